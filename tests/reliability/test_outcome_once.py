"""A task's outcome is published once, by one run, even when a worker dies between
finishing the task and reporting it, or two runs of the same request both finish.

The worker records a terminal outcome (the event itself) as the request's ``settled``
object in S3 — a conditional create — before it publishes it. What these tests set up in
S3 and on the bus is exactly what a worker killed at that point leaves behind; the
worker that takes over is a real process, against the emulator over HTTP."""

from __future__ import annotations

import json

from jobmanager.aws import artifacts, bus
from jobmanager.config import get_config
from jobmanager.domain.events import EventType, Source, new_event
from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions
from jobmanager.store.events_table import get_event_store
from lambdas import dlq_processor
from tests.helpers import take_task_messages

from .harness import (NOOP, job_log, of_type, sequence, settled_log, start_gated, stop_when_job, task_status,
                      wait_until)

# Leaves a file behind when it runs: whether the task ran again is visible.
TOUCH = ["python", "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('ran'); print('ran again')",
         "{input.ran}"]


def a_dead_workers_leftovers(job_id: str, task_id: str, *, worker: str, output: str) -> dict:
    """What a worker killed after recording its Task Completed, before publishing it, leaves:
    its Task Started on the bus, the attempt's claim and the recorded outcome in S3."""
    task = get_event_store().get_task(job_id, task_id)
    common = {"tenant_id": task["tenantId"], "app_name": get_config().app_name, "source": Source.WORKER,
              "job_id": job_id, "task_id": task_id, "request_id": task["requestId"], "attempt": 1}
    bus.publish([new_event(EventType.TASK_STARTED, **common, data={"workerId": worker,
                                                                    "taskDefinition": task["taskDefinition"]})])
    assert artifacts.create_once(artifacts.attempt_claim_key(job_id, task_id, task["requestId"], 1), worker)
    outcome = new_event(EventType.TASK_COMPLETED, **common, data={
        "workerId": worker, "taskDefinition": task["taskDefinition"], "output": output, "outputSize": len(output)})
    assert artifacts.create_once(artifacts.settled_key(job_id, task_id, task["requestId"]),
                                 json.dumps(outcome.to_detail()))
    return outcome.to_detail()


def test_a_worker_that_died_before_publishing_its_recorded_outcome_is_not_run_again(
        tenant, make_queue, runner, workers, tmp_path):
    # Given a job a → b whose a was finished by a worker that died before publishing it
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-touch", body={"kind": "command", "command": TOUCH})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    ran = tmp_path / "ran"
    job = jobs.create_job(tenant_id=tenant, name="recorded", tasks=[
        TaskSpec("a", "rel-touch", {"ran": str(ran)}), TaskSpec("b", "rel-noop", {}, ("a",))])
    job_id = job["jobId"]
    recorded = a_dead_workers_leftovers(job_id, "a", worker="dead-worker", output="recorded before dying")
    wait_until(lambda: task_status(job_id, "a") == "running", timeout=30, what="a to be running")

    # When its message reaches a worker
    worker = workers(queue_url)
    stop_when_job(worker, job_id, "completed")

    # Then the recorded outcome was published (not the task run again), and the DAG went on
    assert not ran.exists(), "the task ran again"
    assert f"task {job_id}/a (request {recorded['requestId']}) has its outcome already" in worker.output
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    (completed,) = of_type(events, "Task Completed", "a")
    assert (completed["eventId"], completed["data"]["output"]) == (recorded["eventId"], "recorded before dying")
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Completed"]


def test_of_two_runs_of_one_request_only_the_first_to_record_its_outcome_is_published(
        tenant, make_queue, runner, workers, tmp_path):
    # Given a worker running a (held at a gate)
    gate = tmp_path / "gate"
    job_id, worker = start_gated(tenant, workers, make_queue(), gate, name="two-runs")

    # When another run of the same request records its outcome first (its message's visibility
    # lapsed under a hung worker, say), and then this one finishes too
    task = get_event_store().get_task(job_id, "a")
    common = {"tenant_id": tenant, "app_name": get_config().app_name, "source": Source.WORKER, "job_id": job_id,
              "task_id": "a", "request_id": task["requestId"], "attempt": 2}
    other = new_event(EventType.TASK_COMPLETED, **common, data={"workerId": "other-worker",
                                                                 "taskDefinition": "rel-gated", "output": "theirs"})
    assert artifacts.create_once(artifacts.settled_key(job_id, "a", task["requestId"]), json.dumps(other.to_detail()))
    gate.write_text("open")

    # Then only the first outcome is published (by this worker, on the other's behalf), once
    stop_when_job(worker, job_id, "completed")
    assert f"task {job_id}/a (request {task['requestId']}) was settled by another run" in worker.output
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    (completed,) = of_type(events, "Task Completed", "a")
    assert (completed["eventId"], completed["data"]["workerId"]) == (other.event_id, "other-worker")
    assert sequence(events) == ["Job Created", "Job Completed"]


def test_a_dead_letter_whose_last_run_recorded_its_outcome_is_that_outcome_not_a_failure(
        tenant, make_queue, runner):
    # Given a → b, a's last run recorded Task Completed and died; then SQS gave up on its message
    make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="dlq-recorded", tasks=[
        TaskSpec("a", "rel-noop"), TaskSpec("b", "rel-noop", {}, ("a",))])
    job_id = job["jobId"]
    (message,) = take_task_messages()
    recorded = a_dead_workers_leftovers(job_id, "a", worker="dead-worker", output="recorded")
    wait_until(lambda: task_status(job_id, "a") == "running", timeout=30, what="a to be running")

    # When the dlq-processor gets the message
    record = {"messageId": "dl-1", "body": json.dumps(message)}
    assert dlq_processor.handler({"Records": [record]}) == {"batchItemFailures": []}

    # Then a completed with the recorded outcome, and b was queued
    wait_until(lambda: task_status(job_id, "b") == "queued", timeout=30, what="b to be queued")
    # ... and the same dead letter again (SQS delivers at least once) changes nothing
    assert dlq_processor.handler({"Records": [{**record, "messageId": "dl-2"}]}) == {"batchItemFailures": []}
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    assert of_type(events, "Task Completed", "a")[0]["eventId"] == recorded["eventId"]
    assert not of_type(job_log(job_id), "Task Failed")
    assert sequence(events, "b") == ["Task Queued"]
    assert [t["taskId"] for t in take_task_messages()] == ["b"]
