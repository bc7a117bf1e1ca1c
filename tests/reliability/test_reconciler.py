"""The reconciler repairs what a lost message or a lost step left behind: a queued task
whose message is gone is sent again (same requestId and attempt; its Task Queued stays
one event); a running task whose worker and message are both gone is sent as its next
attempt, or failed for good if that was its last; a job whose every task ended but whose
end was lost is ended once; a task still queued in a cancelled job is cancelled. Run
again, it does nothing more. A slow task whose worker keeps reporting is left alone."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

from jobmanager.domain.ids import now_iso
from jobmanager.domain.model import TaskSpec
from jobmanager.services import dispatch, jobs, task_definitions
from jobmanager.services.reconcile import reconcile
from jobmanager.store.events_table import get_event_store
from jobmanager.aws import artifacts
from jobmanager.aws.clients import client
from lambdas import reconciler
from tests.helpers import run_as_worker, take_task_messages

from .harness import (GATED, NOOP, SLEEP_ON_FIRST_ATTEMPT, job_status, kill_group_of, of_type, sequence, settled_log,
                      stop_when_job, task_status, wait_until)

LATER = timedelta(minutes=16)  # past RECONCILE_AFTER_MINUTES (15)


def repairs(**done: list[str]) -> dict[str, list[str]]:
    """A reconciler's report: what it did, nothing else."""
    return {"resent": [], "resumed": [], "failed": [], "cancelled": [], "finished": [], **done}


def peek(queue_url: str) -> list[dict]:
    """The queue's messages, left on it (visible again at once)."""
    response = client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def test_a_queued_task_whose_message_was_lost_is_sent_again_and_runs_once(tenant, make_queue, runner, workers):
    # Given a job a → b whose first message is lost (deleted before any worker saw it)
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="lost", tasks=[TaskSpec("a", "rel-noop"),
                                                                TaskSpec("b", "rel-noop", {}, ("a",))])
    job_id = job["jobId"]
    (lost,) = take_task_messages()
    store = get_event_store()

    sent_before = store.get_task(job_id, "a")["sentAt"]

    # When the reconciler runs before the task is overdue, it leaves it alone
    assert reconcile(tenant_ids=[tenant]) == repairs()
    # ... and once it is overdue, it sends it again, as the same request and attempt
    report = reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + LATER)
    assert report == repairs(resent=[f"{job_id}/a"])
    (again,) = peek(queue_url)
    assert (again["requestId"], again["attempt"]) == (lost["requestId"], lost["attempt"])
    assert store.get_task(job_id, "a")["sentAt"] > sent_before
    # ... and not a second time right after (its sentAt is fresh)
    assert reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + timedelta(minutes=1))["resent"] == []

    # Then a worker runs it once and the job completes
    worker = workers(queue_url)
    stop_when_job(worker, job_id, "completed")
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Completed"]


def test_a_queued_task_taken_by_a_worker_that_vanished_before_starting_is_sent_as_the_next_attempt(
        tenant, make_queue, runner, workers):
    # Given a task whose message a worker received and claimed, then died before starting it
    # (its claim exists, the message is gone, the task is still queued)
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="vanished", tasks=[TaskSpec("a", "rel-noop")])
    job_id = job["jobId"]
    (lost,) = take_task_messages()
    assert artifacts.create_once(artifacts.attempt_claim_key(job_id, "a", lost["requestId"], 1), "gone-worker")

    # When the reconciler finds it overdue, then it sends attempt 2 (a copy of attempt 1 would be dropped)
    report = reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + LATER)
    assert report == repairs(resent=[f"{job_id}/a"])
    (again,) = peek(queue_url)
    assert (again["requestId"], again["attempt"]) == (lost["requestId"], 2)

    # ... and a worker runs it, once, and the job completes (as attempt 3: the peek above was a
    # receive, and SQS counts every receive as a delivery of the message's attempt)
    worker = workers(queue_url)
    stop_when_job(worker, job_id, "completed")
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    assert [e["attempt"] for e in of_type(events, "Task Started", "a")] == [3]


def test_a_job_whose_end_was_lost_is_ended_once(tenant, make_queue, runner, monkeypatch):
    # Given a job whose only task completed, but whose dispatcher never ended it
    make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="unended", tasks=[TaskSpec("a", "rel-noop")])
    job_id = job["jobId"]
    monkeypatch.setattr(dispatch, "maybe_finish_job", lambda *args, **kwargs: None)
    (message,) = take_task_messages()
    run_as_worker(message)
    wait_until(lambda: get_event_store().get_task(job_id, "a")["status"] == "completed", timeout=30,
               what="a to be completed")
    # (the dispatcher's handler still runs until its event is delivered: undo only then)
    wait_until(runner.idle, timeout=30, what="the dispatcher to finish with a's completion")
    monkeypatch.undo()
    assert job_status(job_id) == "running"

    # When the reconciler runs (the scheduled Lambda's handler)
    report = reconciler.handler({"tenants": [tenant]})

    # Then the job is completed, announced once, and a second run changes nothing
    assert report == repairs(finished=[job_id])
    assert reconciler.handler({"tenants": [tenant]}) == repairs()
    runner.drain()
    events = settled_log(runner, job_id)
    assert job_status(job_id) == "completed"
    assert sequence(events) == ["Job Created", "Job Completed"]
    assert of_type(events, "Job Completed")[0]["data"]["completed"] == 1


def test_a_task_left_queued_in_a_cancelled_job_is_cancelled(tenant, make_queue, runner):
    # Given a job that was ended cancelled by a canceller that crashed before its sweep
    make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    job = jobs.create_job(tenant_id=tenant, name="half-cancelled", tasks=[TaskSpec("a", "rel-noop")])
    job_id = job["jobId"]
    take_task_messages()
    store = get_event_store()
    assert store.finish_job(job_id, tenant_id=tenant, status="cancelled", event_id="01M8ZZZZZZZZZZZZZZZZZZZZZZ",
                            trigger="test", now=now_iso())

    # When the reconciler runs once the task is overdue
    report = reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + LATER)

    # Then the task is cancelled (and announced) rather than sent again
    assert report == repairs(cancelled=[f"{job_id}/a"])
    assert take_task_messages() == []
    runner.drain()
    assert sequence(settled_log(runner, job_id), "a") == ["Task Queued", "Task Cancelled"]
    assert store.get_job(job_id, consistent=True)["cancelledCount"] == 1
    assert reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + LATER)["cancelled"] == []


def lose_the_running_task(tenant, make_queue, workers, orphans, tmp_path, *, max_attempts: int) -> tuple[str, str]:
    """A job a → b whose a is running on a worker that is then SIGKILLed, its message
    purged with it: nothing will ever bring a back but the reconciler. Returns the job
    id and the queue."""
    queue_url = make_queue()
    for name, command in (("rel-sleep-first", SLEEP_ON_FIRST_ATTEMPT), ("rel-noop", NOOP)):
        task_definitions.put_task_definition(tenant_id=tenant, name=name, body={
            "kind": "command", "command": command, "maxAttempts": max_attempts})
    pidfile = tmp_path / "a.pid"
    orphans.append(pidfile)
    job_id = jobs.create_job(tenant_id=tenant, name="lost-running", tasks=[
        TaskSpec("a", "rel-sleep-first", {"pidfile": str(pidfile)}), TaskSpec("b", "rel-noop", {}, ("a",))])["jobId"]
    doomed = workers(queue_url)
    doomed.wait_for_line("task started   job=" + job_id)
    wait_until(lambda: pidfile.exists() and pidfile.read_text(), timeout=30, what="a's command to start")
    doomed.process.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    kill_group_of(pidfile)
    client("sqs").purge_queue(QueueUrl=queue_url)
    wait_until(lambda: task_status(job_id, "a") == "running", timeout=30, what="a to be running")
    return job_id, queue_url


def test_a_running_task_whose_worker_and_message_are_lost_is_sent_as_its_next_attempt(
        tenant, make_queue, runner, workers, orphans, tmp_path):
    # Given a running task whose worker died and whose message is gone
    job_id, queue_url = lose_the_running_task(tenant, make_queue, workers, orphans, tmp_path, max_attempts=3)
    store = get_event_store()
    started = store.get_task(job_id, "a")

    # When the reconciler runs before it is overdue, it leaves it alone (a slow task is not a lost one)
    assert reconcile(tenant_ids=[tenant]) == repairs()
    # ... and once it is overdue, it sends it as its next attempt, under the same request
    assert reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + LATER) == repairs(resumed=[f"{job_id}/a"])
    (again,) = peek(queue_url)
    assert (again["requestId"], again["attempt"]) == (started["requestId"], 2)
    # ... once: right after, the task is left to the queue
    assert reconcile(tenant_ids=[tenant], now=datetime.now(UTC) + timedelta(minutes=1)) == repairs()

    # Then a worker runs it and the job completes, a and b each completed once
    stop_when_job(workers(queue_url), job_id, "completed")
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Started", "Task Completed"]
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Completed"]


def test_a_running_task_lost_on_its_last_attempt_fails_for_good_and_says_why(
        tenant, make_queue, runner, workers, orphans, tmp_path):
    # Given a task that may run once, lost with its worker and its message
    job_id, _ = lose_the_running_task(tenant, make_queue, workers, orphans, tmp_path, max_attempts=1)

    # When the reconciler finds it overdue (the scheduled handler's code, twice)
    later = datetime.now(UTC) + LATER
    assert reconcile(tenant_ids=[tenant], now=later) == repairs(failed=[f"{job_id}/a"])
    assert reconcile(tenant_ids=[tenant], now=later) == repairs()

    # Then a failed with the reason, b was skipped, and the job failed, each announced once
    runner.drain()
    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Failed"]
    assert sequence(events, "b") == ["Task Skipped"]
    assert sequence(events) == ["Job Created", "Job Failed"]
    (failed,) = of_type(events, "Task Failed", "a")
    assert failed["data"]["error"]["kind"] == "lost" and not failed["data"]["willRetry"]
    assert "attempt 1 of 1 was lost" in failed["data"]["error"]["message"]
    assert job_status(job_id) == "failed"


def test_a_long_task_whose_worker_keeps_reporting_is_left_alone(tenant, make_queue, runner, workers, tmp_path):
    # Given a task running for longer than the reconciler's patience, its worker heartbeating
    queue_url = make_queue()
    gate = tmp_path / "gate"
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-gated", body={"kind": "command", "command": GATED})
    job_id = jobs.create_job(tenant_id=tenant, name="long", tasks=[TaskSpec("a", "rel-gated", {"gate": str(gate)})])[
        "jobId"]
    worker = workers(queue_url, VISIBILITY_EXTENSION_INTERVAL="500", VISIBILITY_EXTENSION_AMOUNT="5")
    worker.wait_for_line(f"task started   job={job_id} task=a")
    started = wait_until(lambda: get_event_store().get_task(job_id, "a").get("startedAt"), timeout=30,
                         what="a's start to be recorded")
    wait_until(lambda: (get_event_store().get_task(job_id, "a").get("lastHeartbeatAt") or "") > started,
               timeout=30, what="a heartbeat")
    time.sleep(6)

    # When the reconciler runs with 5 s of patience: a started before that, its heartbeats since
    report = reconcile(tenant_ids=[tenant], stale_after_seconds=5)

    # Then it does nothing, and the task finishes on its worker
    assert report == repairs(), report
    gate.write_text("go")
    stop_when_job(worker, job_id, "completed")
    assert sequence(settled_log(runner, job_id), "a") == ["Task Queued", "Task Started", "Task Completed"]
