"""The task DLQ: a message whose every delivery died with its worker ends in the DLQ, and
the dlq-processor (delivered by the local runner, as by Lambda's SQS event source) turns
it into a terminal ``Task Failed`` (source dlq); the dispatcher skips the descendants and
the job fails once. Repeating the dead letter, or one of a task that moved on, changes
nothing."""

from __future__ import annotations

import json
import signal

from jobmanager.aws import bus
from jobmanager.domain.events import EventType
from jobmanager.domain.model import TaskSpec
from jobmanager.services import control, jobs, task_definitions
from jobmanager.store.events_table import get_event_store
from lambdas import dlq_processor
from tests.helpers import run_as_worker, take_task_messages, worker_event

from .harness import NOOP, SLEEP, job_log, settled_log, job_status, kill_group_of, of_type, sequence, task_status, wait_until

DELIVERIES = 2


def test_exhausted_deliveries_fail_the_task_skip_its_descendants_and_fail_the_job_once(
        tenant, make_queue, env, runner, workers, orphans, tmp_path):
    # Given a job a → b → c, a's queue redriving to the task DLQ after 2 receives, and workers
    # holding a message 2 s at a time (no heartbeat in this test: once a worker is dead, its
    # message is visible again 2 s after it was taken)
    env({"MAX_MESSAGE_RETRIES": str(DELIVERIES)})
    queue_url = make_queue(visibility=2, max_receives=DELIVERIES)
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-hang", body={"kind": "command", "command": SLEEP})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    pidfile = tmp_path / "a.pid"
    orphans.append(pidfile)
    job = jobs.create_job(tenant_id=tenant, name="dlq", tasks=[
        TaskSpec("a", "rel-hang", {"pidfile": str(pidfile)}), TaskSpec("b", "rel-noop", {}, ("a",)),
        TaskSpec("c", "rel-noop", {}, ("b",))])
    job_id = job["jobId"]

    # When every worker that receives a dies with it (SIGKILL), twice
    for n in range(DELIVERIES):
        doomed = workers(queue_url, MAX_MESSAGE_RETRIES=str(DELIVERIES), VISIBILITY_EXTENSION_AMOUNT="2")
        doomed.wait_for_line(f"attempt={n + 1}/")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        kill_group_of(pidfile)
    # ... and the next receive finds the message out of deliveries (SQS moves it to the DLQ)
    last = workers(queue_url, MAX_MESSAGE_RETRIES=str(DELIVERIES), VISIBILITY_EXTENSION_AMOUNT="2")
    wait_until(lambda: task_status(job_id, "a") == "failed", timeout=60, what="the dead letter to fail a")
    wait_until(lambda: of_type(job_log(job_id), "Job Failed"), timeout=30, what="Job Failed")
    last.process.send_signal(signal.SIGTERM)
    assert last.wait() == 0

    # Then a failed from the DLQ, its descendants were skipped and the job failed once
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Started", "Task Failed"]
    (failed,) = of_type(events, "Task Failed", "a")
    assert failed["source"] == "dlq" and failed["attempt"] == 2
    assert failed["data"]["error"] == {"message": f"exhausted {DELIVERIES} deliveries", "kind": "dlq",
                                       "retryable": False}
    assert failed["data"]["willRetry"] is False and failed["data"]["taskDefinition"] == "rel-hang"
    assert sequence(events, "b") == ["Task Skipped"] and sequence(events, "c") == ["Task Skipped"]
    assert sequence(events) == ["Job Created", "Job Failed"]
    job_item = get_event_store().get_job(job_id, consistent=True)
    assert (job_item["status"], job_item["failedCount"], job_item["skippedCount"]) == ("failed", 1, 2)

    # And the same dead letter again (SQS delivers at least once) changes nothing
    task = get_event_store().get_task(job_id, "a")
    body = {"jobId": job_id, "taskId": "a", "tenantId": tenant, "requestId": task["requestId"], "attempt": 1,
            "taskDefinition": "rel-hang"}
    result = dlq_processor.handler({"Records": [{"messageId": "again", "body": json.dumps(body)}]})
    runner.drain()
    assert result == {"batchItemFailures": []}
    assert len(settled_log(runner, job_id)) == len(events)


def _dead_letter(message: dict, message_id: str = "dl-1") -> dict:
    return dlq_processor.handler({"Records": [{"messageId": message_id, "body": json.dumps(message)}]})


def test_a_dead_letter_of_a_task_that_finished_or_moved_on_changes_nothing(tenant, make_queue, runner):
    # Given a task that completed, and dead letters for it: its own, another request's, garbage
    make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="done", tasks=[TaskSpec("a", "rel-noop")])
    (message,) = take_task_messages()
    run_as_worker(message)
    wait_until(lambda: job_status(job["jobId"]) == "completed", timeout=30, what="the job to complete")
    before = settled_log(runner, job["jobId"])

    # When they are processed
    results = [_dead_letter(message), _dead_letter({**message, "requestId": "01OTHERREQUEST000000000000"}),
               dlq_processor.handler({"Records": [{"messageId": "junk", "body": "not json"}]})]

    # Then each is done with (nothing to retry) and nothing changed
    assert results == [{"batchItemFailures": []}] * 3
    runner.drain()
    assert settled_log(runner, job["jobId"]) == before


def test_a_dead_letter_of_a_running_task_in_a_cancelled_job_cancels_it(tenant, make_queue, runner):
    # Given a job cancelled while a ran on a worker that then died
    make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="cancelled", tasks=[TaskSpec("a", "rel-noop"),
                                                                     TaskSpec("b", "rel-noop", {}, ("a",))])
    job_id = job["jobId"]
    (message,) = take_task_messages()
    bus.publish([worker_event(EventType.TASK_STARTED, message)])
    wait_until(lambda: task_status(job_id, "a") == "running", timeout=30, what="a to run")
    assert control.cancel_job(tenant_id=tenant, job_id=job_id)["stopping"] == ["a"]

    # When its message comes out of the DLQ
    assert _dead_letter(message) == {"batchItemFailures": []}

    # Then a is cancelled, not failed, and the job stays cancelled (no Job Failed)
    runner.drain()
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Cancelled"]
    (cancelled,) = of_type(events, "Task Cancelled", "a")
    assert cancelled["data"]["reason"] == "job cancelled; its late dead letter was discarded"
    assert sequence(events, "b") == ["Task Cancelled"]
    assert sequence(events) == ["Job Created", "Job Cancelled"]
    assert get_event_store().get_job(job_id, consistent=True)["cancelledCount"] == 2
