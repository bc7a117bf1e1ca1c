"""The dispatcher against the emulator: the DAG advances exactly once per dependency,
failures skip descendants, the job ends once."""

from __future__ import annotations

import uuid

import pytest

from jobmanager.domain.events import Event, EventType
from jobmanager.domain.model import TaskSpec
from jobmanager.services import dispatch, jobs, queries, task_definitions
from jobmanager.store.events_table import get_event_store
from tests.helpers import EventTap, run_as_worker, take_task_messages, worker_event

TENANT = "test-tenant"


@pytest.fixture(autouse=True)
def _definitions(aws_stack):
    task_definitions.put_task_definition(
        tenant_id=TENANT, name="noop", body={"kind": "command", "command": ["true"], "maxAttempts": 2}
    )
    # The session's task queue is shared: messages other suites left there (jobs submitted
    # through the API with nobody running them) are not this test's to run.
    take_task_messages()


def diamond() -> list[TaskSpec]:
    return [
        TaskSpec("a", "noop", {"n": 1}),
        TaskSpec("b", "noop", {}, ("a",)),
        TaskSpec("c", "noop", {}, ("a",)),
        TaskSpec("d", "noop", {}, ("b", "c")),
    ]


def run_job_to_end(rule_runner, *, fail: dict[str, dict] | None = None) -> list[str]:
    """Act as the worker until no message is left; returns task ids in run order."""
    ran = []
    for _ in range(20):
        messages = take_task_messages()
        if not messages:
            break
        for message in messages:
            ran.append(message["taskId"])
            run_as_worker(message, output=f"out-{message['taskId']}", fail=(fail or {}).get(message["taskId"]))
        rule_runner.drain()
    return ran


def test_diamond_runs_each_task_once_after_its_dependencies(rule_runner):
    # Given a diamond a → (b, c) → d
    tap = EventTap()
    job = jobs.create_job(tenant_id=TENANT, name="diamond", tasks=diamond())
    assert job["queued"] == ["a"]

    # When a worker runs every message it receives
    ran = run_job_to_end(rule_runner)

    # Then each task ran once, in dependency order, and the job completed once
    assert sorted(ran) == ["a", "b", "c", "d"] and ran[0] == "a" and ran[-1] == "d"
    final = queries.get_job(tenant_id=TENANT, job_id=job["jobId"])
    assert final["status"] == "completed"
    assert {t["taskId"]: t["status"] for t in final["tasks"]} == dict.fromkeys("abcd", "completed")
    assert final["counts"]["completed"] == 4
    types = tap.types_for(job["jobId"])
    assert types.count("Job Completed") == 1 and types[0] == "Job Created" and types[-1] == "Job Completed"
    assert tap.types_for(job["jobId"], "d") == ["Task Queued", "Task Started", "Task Completed"]


def test_successor_receives_upstream_outputs_in_its_message(rule_runner):
    job = jobs.create_job(tenant_id=TENANT, name="outputs", tasks=diamond())
    (a,) = take_task_messages()
    run_as_worker(a, output="alpha")
    rule_runner.drain()
    messages = {m["taskId"]: m for m in take_task_messages()}
    assert set(messages) == {"b", "c"}
    assert messages["b"]["upstream"] == {"a": {"output": "alpha"}}
    assert messages["b"]["jobId"] == job["jobId"] and messages["b"]["attempt"] == 1


def test_redelivered_completion_enqueues_nothing_twice(rule_runner):
    # Given a completed 'a' whose event is delivered to the dispatcher twice
    job = jobs.create_job(tenant_id=TENANT, name="dup", tasks=diamond())
    (a,) = take_task_messages()
    completed = worker_event(EventType.TASK_COMPLETED, a, output="x")
    store = get_event_store()
    dispatch.handle_event(completed, store=store)
    dispatch.handle_event(Event.from_detail(completed.to_detail()), store=store)

    # Then b and c are sent once each
    assert sorted(m["taskId"] for m in take_task_messages()) == ["b", "c"]
    task_b = store.get_task(job["jobId"], "b")
    assert task_b["status"] == "queued" and task_b["remaining"] == 0


def test_retry_after_crash_between_claim_and_send_sends_again(rule_runner, monkeypatch):
    # Given a dispatcher that crashes after claiming b and c but before sending them
    jobs.create_job(tenant_id=TENANT, name="crash", tasks=diamond())
    (a,) = take_task_messages()
    completed = worker_event(EventType.TASK_COMPLETED, a, output="x")

    def crash(*args, **kwargs):
        raise RuntimeError("crash before send")

    monkeypatch.setattr(dispatch.queue, "send_messages", crash)
    with pytest.raises(RuntimeError):
        dispatch.handle_event(completed)
    monkeypatch.undo()
    assert take_task_messages() == []

    # When the same event is redelivered
    dispatch.handle_event(completed)

    # Then the claimed tasks are sent (never zero)
    assert sorted(m["taskId"] for m in take_task_messages()) == ["b", "c"]


def test_terminal_failure_skips_descendants_and_fails_the_job_once(rule_runner):
    tap = EventTap()
    tasks = diamond() + [TaskSpec("e", "noop", {}, ("a",))]
    job = jobs.create_job(tenant_id=TENANT, name="fails", tasks=tasks)
    failure = {"error": {"message": "boom", "kind": "error", "retryable": False}, "willRetry": False}

    ran = run_job_to_end(rule_runner, fail={"b": failure})

    final = queries.get_job(tenant_id=TENANT, job_id=job["jobId"])
    states = {t["taskId"]: t["status"] for t in final["tasks"]}
    assert states == {"a": "completed", "b": "failed", "c": "completed", "d": "skipped", "e": "completed"}
    assert "d" not in ran
    assert next(t for t in final["tasks"] if t["taskId"] == "d")["skippedReason"] == "upstream task 'b' failed"
    assert final["status"] == "failed"
    assert tap.types_for(job["jobId"]).count("Job Failed") == 1
    assert tap.types_for(job["jobId"], "d") == ["Task Skipped"]


def test_add_tasks_depending_on_completed_and_pending_tasks(rule_runner):
    job = jobs.create_job(tenant_id=TENANT, name="grow", tasks=[TaskSpec("a", "noop"), TaskSpec("b", "noop", {}, ("a",))])
    (a,) = take_task_messages()
    run_as_worker(a)
    rule_runner.drain()
    # a completed, b queued: add x after a (ready now) and y after b (waits)
    added = jobs.add_tasks(tenant_id=TENANT, job_id=job["jobId"], tasks=[
        TaskSpec("x", "noop", {}, ("a",)), TaskSpec("y", "noop", {}, ("b", "x"))])
    assert added["queued"] == ["x"]
    ran = run_job_to_end(rule_runner)
    assert sorted(ran) == ["b", "x", "y"] and ran[-1] == "y"
    assert queries.get_job(tenant_id=TENANT, job_id=job["jobId"])["status"] == "completed"


def test_idempotency_key_returns_the_first_job(rule_runner):
    key = uuid.uuid4().hex
    first = jobs.create_job(tenant_id=TENANT, name="once", tasks=[TaskSpec("a", "noop")], idempotency_key=key)
    again = jobs.create_job(tenant_id=TENANT, name="once", tasks=[TaskSpec("a", "noop")], idempotency_key=key)
    assert again["jobId"] == first["jobId"] and again["replayed"] is True
    assert len(take_task_messages()) == 1
