"""Tasks added to a job while one of their dependencies is running, with a real worker:
the new task waits (no message) until that dependency completes, then runs once with its
output, and the job completes once, after both."""

from __future__ import annotations

import time

from jobmanager.aws.clients import client
from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions

from .harness import job_status, of_type, sequence, settled_log, start_gated, stop_when_job, task_status

# Prints what it was given: the upstream task's output.
ECHO_UPSTREAM = ["python", "-c", "import sys; print('got', sys.argv[1])", "{tasks.a.output}"]


def messages_on(queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    attributes = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names) - 1  # less a's, held by the worker


def test_a_task_added_after_a_running_task_waits_for_it_then_runs_once_with_its_output(
        tenant, make_queue, runner, workers, tmp_path):
    # Given a worker running a (held at its gate)
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-echo-upstream",
                                         body={"kind": "command", "command": ECHO_UPSTREAM})
    gate = tmp_path / "gate"
    job_id, worker = start_gated(tenant, workers, queue_url, gate, name="grow-while-running")

    # When b, depending on a, is added while a runs
    added = jobs.add_tasks(tenant_id=tenant, job_id=job_id, tasks=[TaskSpec("b", "rel-echo-upstream", {}, ("a",))])

    # Then b waits: not queued, and no message for it on the queue
    assert added["queued"] == []
    time.sleep(2)  # time for a wrongly sent message to arrive
    assert (task_status(job_id, "a"), task_status(job_id, "b")) == ("running", "pending")
    assert messages_on(queue_url) == 0

    # When a completes
    gate.write_text("open")
    stop_when_job(worker, job_id, "completed")

    # Then b ran once, after a, with a's output; the job ended once, after both
    events = settled_log(runner, job_id)
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    (a_done,) = of_type(events, "Task Completed", "a")
    (b_queued,) = of_type(events, "Task Queued", "b")
    assert b_queued["timestamp"] >= a_done["timestamp"]
    assert of_type(events, "Task Completed", "b")[0]["data"]["output"].rstrip() == "got released"
    assert sequence(events) == ["Job Created", "Tasks Added", "Job Completed"]
    assert job_status(job_id) == "completed"
