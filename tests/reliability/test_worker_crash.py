"""A worker SIGKILLed mid-task settles nothing: no outcome event, the message not deleted.
SQS makes it visible again when its visibility timeout runs out (3 s on this test's
queue; the dead worker no longer extends it) and another worker runs it as attempt 2 —
once: the task completes exactly once and the DAG carries on."""

from __future__ import annotations

import signal

from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions

from .harness import NOOP, SLEEP_ON_FIRST_ATTEMPT, settled_log, job_status, of_type, sequence, wait_until


def test_a_killed_workers_task_is_redelivered_after_the_visibility_timeout_and_completes_once(
        tenant, make_queue, runner, workers, orphans, tmp_path):
    # Given a job a → b on a queue whose messages come back 3 s after a receive
    queue_url = make_queue(visibility=3)
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-crash-once",
                                         body={"kind": "command", "command": SLEEP_ON_FIRST_ATTEMPT})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    pidfile = tmp_path / "a.pid"
    orphans.append(pidfile)
    job = jobs.create_job(tenant_id=tenant, name="crash", tasks=[
        TaskSpec("a", "rel-crash-once", {"pidfile": str(pidfile)}), TaskSpec("b", "rel-noop", {}, ("a",))])
    job_id = job["jobId"]

    # When the worker running a is SIGKILLed mid-task
    doomed = workers(queue_url)
    doomed.wait_for_line("task started   job=" + job_id)
    doomed.process.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    # Then another worker gets it once its visibility runs out, as attempt 2, and finishes the job
    survivor = workers(queue_url)
    wait_until(lambda: job_status(job_id) == "completed", timeout=60, what="the job to complete")
    survivor.process.send_signal(signal.SIGTERM)
    assert survivor.wait() == 0

    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Started", "Task Completed"]
    assert [e["attempt"] for e in of_type(events, "Task Started", "a")] == [1, 2]
    (completed,) = of_type(events, "Task Completed", "a")
    assert completed["attempt"] == 2 and completed["data"]["workerId"] == "rel-worker-2"
    assert completed["data"]["output"].strip() == "done on attempt 2"
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Completed"]
