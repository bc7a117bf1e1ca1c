"""Worker shutdown with real signals, seen from the job's event log.

First SIGTERM (warm): the running task finishes and is reported, no new task is taken (a
task added meanwhile stays queued, its message on the queue for the next worker).
Second SIGTERM (cold): the worker exits at once, its task's processes are killed, nothing
is reported, and the message comes back from the queue: the next worker runs it as the
next attempt."""

from __future__ import annotations

import signal

from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions

from .harness import (NOOP, SLEEP_ON_FIRST_ATTEMPT, job_status, of_type, pid_alive, sequence, settled_log,
                      start_gated, stop_when_job, task_status, wait_until)


def test_first_sigterm_finishes_the_running_task_and_takes_no_new_one(tenant, make_queue, runner, workers, tmp_path):
    # Given a worker (one slot) running a, and b added to the job while a runs
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    gate = tmp_path / "gate"
    job_id, worker = start_gated(tenant, workers, queue_url, gate, name="warm")

    # When it gets SIGTERM, and only then b is added and a is let finish
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for_line("warm shutdown")
    assert jobs.add_tasks(tenant_id=tenant, job_id=job_id, tasks=[TaskSpec("b", "rel-noop")])["queued"] == ["b"]
    gate.write_text("open")

    # Then the worker reports a, exits cleanly, and never took b
    assert worker.wait() == 0
    assert f"task completed job={job_id} task=a" in worker.output
    assert f"task=b" not in worker.output
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events, "b") == ["Task Queued"]
    assert (task_status(job_id, "b"), job_status(job_id)) == ("queued", "running")

    # And the next worker runs b from the queue, and the job completes once
    successor = workers(queue_url)
    stop_when_job(successor, job_id, "completed")
    events = settled_log(runner, job_id)
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    assert of_type(events, "Task Completed", "b")[0]["data"]["workerId"] == "rel-worker-2"
    assert sequence(events) == ["Job Created", "Tasks Added", "Job Completed"]


def test_second_sigterm_stops_at_once_and_the_message_comes_back(tenant, make_queue, runner, workers, tmp_path):
    # Given a worker running a (heartbeat every second, visibility extended by 2 s each time)
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-once",
                                         body={"kind": "command", "command": SLEEP_ON_FIRST_ATTEMPT})
    pidfile = tmp_path / "a.pid"
    job = jobs.create_job(tenant_id=tenant, name="cold", tasks=[TaskSpec("a", "rel-once", {"pidfile": str(pidfile)})])
    job_id = job["jobId"]
    fast = {"VISIBILITY_EXTENSION_INTERVAL": "1000", "VISIBILITY_EXTENSION_AMOUNT": "2"}
    worker = workers(queue_url, **fast)
    worker.wait_for_line(f"task started   job={job_id} task=a")
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text(), timeout=30, what="a's command"))

    # When SIGTERM comes twice
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for_line("warm shutdown")
    worker.process.send_signal(signal.SIGTERM)

    # Then it exits at once, having killed the task's process, and reported nothing
    assert worker.wait(timeout=30) == 128 + signal.SIGTERM
    assert "cold shutdown" in worker.output
    wait_until(lambda: not pid_alive(pid), timeout=10, what="the task's process to die")
    assert sequence(settled_log(runner, job_id), "a") == ["Task Queued", "Task Started"]
    assert task_status(job_id, "a") == "running"

    # And the message comes back: the next worker runs it as attempt 2, and the job completes
    successor = workers(queue_url, **fast)
    stop_when_job(successor, job_id, "completed")
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Started", "Task Completed"]
    assert [(e["attempt"], e["data"]["workerId"]) for e in of_type(events, "Task Started", "a")] == [
        (1, "rel-worker-1"), (2, "rel-worker-2")]
    (completed,) = of_type(events, "Task Completed", "a")
    assert (completed["attempt"], completed["data"]["output"].strip()) == (2, "done on attempt 2")
    assert sequence(events) == ["Job Created", "Job Completed"]
