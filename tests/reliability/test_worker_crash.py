"""A worker SIGKILLed mid-task settles nothing: no outcome event, the message not deleted.

The queue keeps the template's 15-minute visibility timeout. The worker shortens its
message's visibility to VISIBILITY_EXTENSION_AMOUNT (3 s here) as soon as it has claimed
the attempt, and only its heartbeat would push it further; this test's worker dies before
its first heartbeat, so the message is visible again 3 s later, not 15 minutes later.
Another worker then receives it as attempt 2 and runs it — once: a copy of attempt 1
(a dispatcher or reconciler re-send) is recognised by requestId + attempt and deleted
unrun, the dead worker's ``Task Started`` delivered again changes nothing, and the task
completes exactly once."""

from __future__ import annotations

import signal

from jobmanager.aws import bus
from jobmanager.domain.events import Event
from jobmanager.domain.model import TaskSpec
from jobmanager.services import dispatch, jobs, task_definitions
from jobmanager.store.events_table import get_event_store

from .harness import (NOOP, SLEEP_ON_FIRST_ATTEMPT, job_log, job_status, of_type, pid_alive, sequence, settled_log,
                      task_status, wait_until)


def test_a_killed_workers_task_is_redelivered_as_the_next_attempt_and_completes_once(
        tenant, make_queue, runner, workers, orphans, tmp_path):
    # Given a job a → b on a queue with the template's visibility timeout (900 s)
    queue_url = make_queue(visibility=900)
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-crash-once",
                                         body={"kind": "command", "command": SLEEP_ON_FIRST_ATTEMPT})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    pidfile = tmp_path / "a.pid"
    orphans.append(pidfile)
    job = jobs.create_job(tenant_id=tenant, name="crash", tasks=[
        TaskSpec("a", "rel-crash-once", {"pidfile": str(pidfile)}), TaskSpec("b", "rel-noop", {}, ("a",))])
    job_id = job["jobId"]

    # When the worker running a is SIGKILLed mid-task, before any heartbeat
    doomed = workers(queue_url, VISIBILITY_EXTENSION_AMOUNT="3")
    doomed.wait_for_line("task started   job=" + job_id)
    wait_until(lambda: pidfile.exists() and pidfile.read_text(), timeout=30, what="a's command to start")
    doomed.process.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    # ... its task's process ends with it: the next attempt won't run beside a leftover of this one
    wait_until(lambda: not pid_alive(int(pidfile.read_text())), timeout=15, what="attempt 1's process to end")
    assert "Task Heartbeat" not in {e["eventType"] for e in job_log(job_id)}
    (first_start,) = wait_until(lambda: of_type(job_log(job_id), "Task Started", "a"), timeout=30,
                                what="attempt 1's Task Started in the log")
    assert task_status(job_id, "a") == "running"
    # ... and a copy of attempt 1's message is sent too (a re-send: same requestId, same attempt)
    store = get_event_store()
    dispatch.send_messages(store, store.get_job(job_id, consistent=True), [store.get_task(job_id, "a")])

    # Then another worker gets the original back as attempt 2, drops the copy, and finishes the job
    survivor = workers(queue_url, VISIBILITY_EXTENSION_AMOUNT="3")
    wait_until(lambda: job_status(job_id) == "completed", timeout=90, what="the job to complete")
    # (the copy may come before or after the original: deleted unrun either way, found by its
    # requestId + attempt in S3's attempt claim or settled marker, or in the worker's memory)
    dropped = survivor.wait_for_line("deleted", timeout=30)
    survivor.process.send_signal(signal.SIGTERM)
    assert survivor.wait() == 0
    request_id = first_start["requestId"]
    assert dropped.endswith((f"attempt 1 of task {job_id}/a was started by another worker: message deleted",
                             f"task {job_id}/a (request {request_id}) has its outcome already: message deleted",
                             f"duplicate of finished task ('{request_id}', 1) deleted")), dropped
    assert sum("task started   job=" + job_id + " task=a" in line for line in survivor.lines) == 1

    # And the dead worker's Task Started, delivered again (EventBridge retries), changes nothing
    before = settled_log(runner, job_id)
    bus.publish([Event.from_detail(first_start)])
    assert settled_log(runner, job_id) == before
    assert task_status(job_id, "a") == "completed"

    events = before
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Started", "Task Completed"]
    starts = of_type(events, "Task Started", "a")
    assert [(e["attempt"], e["data"]["workerId"]) for e in starts] == [(1, "rel-worker-1"), (2, "rel-worker-2")]
    assert {e["requestId"] for e in starts} == {first_start["requestId"]}
    (completed,) = of_type(events, "Task Completed", "a")
    assert completed["attempt"] == 2 and completed["data"]["workerId"] == "rel-worker-2"
    assert completed["data"]["output"].strip() == "done on attempt 2"
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Completed"]
