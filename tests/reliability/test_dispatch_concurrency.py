"""Exactly-once dispatch under concurrency (invariant 3), with separate processes
delivering to the dispatcher at the same instant against the emulator over HTTP (which,
like AWS, makes each DynamoDB write atomic). The single-process versions of "delivered
twice" and "crash between claim and send" are in tests/services/test_dispatch.py.

Known limit, by design: the same event delivered twice *while* its first delivery is
between claim and send is indistinguishable from a retry after a crash there, so both
send (the worker drops the duplicate of an attempt it runs). Not exercised here."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from jobmanager.domain.events import Event, EventType
from jobmanager.domain.model import TaskSpec
from jobmanager.services import dispatch, jobs, task_definitions
from jobmanager.store.events_table import get_event_store
from tests.helpers import take_task_messages, worker_event

from ._dispatch_process import deliver
from .harness import of_type, sequence, settled_log

LEAVES = 6


def fan_in(tenant: str) -> tuple[str, list[dict]]:
    """A job root → leaf-0..5 → join, the leaves running; returns the job id and the
    leaves' Task Completed events."""
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-true",
                                         body={"kind": "command", "command": ["true"]})
    leaves = [f"leaf-{i}" for i in range(LEAVES)]
    job = jobs.create_job(tenant_id=tenant, name="fan-in", tasks=[
        TaskSpec("root", "rel-true"), *(TaskSpec(leaf, "rel-true", {}, ("root",)) for leaf in leaves),
        TaskSpec("join", "rel-true", {}, tuple(leaves))])
    (root,) = take_task_messages()
    dispatch.handle_event(worker_event(EventType.TASK_COMPLETED, root, output="r"))
    messages = take_task_messages()
    assert sorted(m["taskId"] for m in messages) == leaves
    return job["jobId"], [worker_event(EventType.TASK_COMPLETED, m, output=m["taskId"]).to_detail() for m in messages]


def race(batches: list[list[dict]], *, crash_on_send: bool = False) -> list[int]:
    """One process per batch of events, all starting at the same instant."""
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: nothing of boto3 shared through a fork
    with ctx.Manager() as manager, ProcessPoolExecutor(len(batches), mp_context=ctx) as pool:
        barrier = manager.Barrier(len(batches))
        futures = [pool.submit(deliver, batch, barrier, crash_on_send) for batch in batches]
        return [f.result(timeout=120) for f in futures]


def test_upstream_tasks_completing_at_once_send_the_join_exactly_once(tenant, make_queue, runner):
    # Given a fan-in whose six leaves are all running
    make_queue()
    job_id, completions = fan_in(tenant)

    # When the six completions reach six dispatchers at the same instant
    assert race([[c] for c in completions]) == [0] * LEAVES

    # Then the join was counted once per leaf, claimed once and sent once
    (join,) = take_task_messages()
    assert join["taskId"] == "join" and sorted(join["upstream"]) == [f"leaf-{i}" for i in range(LEAVES)]
    store = get_event_store()
    item = store.get_task(job_id, "join")
    assert (item["status"], item["remaining"], item["requestId"]) == ("queued", 0, join["requestId"])
    assert sorted(item["doneDeps"]) == [f"leaf-{i}" for i in range(LEAVES)]
    assert store.get_job(job_id, consistent=True)["completedCount"] == 1 + LEAVES

    # And when every completion is delivered again, by three dispatchers at once, nothing moves
    assert race([completions] * 3) == [0, 0, 0]
    assert take_task_messages() == []
    assert store.get_job(job_id, consistent=True)["completedCount"] == 1 + LEAVES
    runner.drain()
    events = settled_log(runner, job_id)
    assert sequence(events, "join") == ["Task Queued"]
    assert of_type(events, "Task Queued", "join")[0]["requestId"] == join["requestId"]
    assert all(sequence(events, f"leaf-{i}") == ["Task Queued"] for i in range(LEAVES))
    assert sequence(events) == ["Job Created"]


def test_a_claim_whose_send_crashed_is_sent_once_when_the_events_come_again(tenant, make_queue, runner):
    # Given the same race, in which the dispatcher that wins the join's claim crashes before sending it
    make_queue()
    job_id, completions = fan_in(tenant)
    assert sum(race([[c] for c in completions], crash_on_send=True)) == 1, "one claim, one crash"
    assert take_task_messages() == []
    store = get_event_store()
    claimed = store.get_task(job_id, "join")
    assert claimed["status"] == "queued" and "sentAt" not in claimed

    # When the events are delivered again (EventBridge retries the failed invocation)
    for detail in completions:
        dispatch.handle_event(Event.from_detail(detail))

    # Then the join is sent, once, as the request that was claimed
    (join,) = take_task_messages()
    assert (join["taskId"], join["requestId"], join["attempt"]) == ("join", claimed["requestId"], 1)
    assert "sentAt" in store.get_task(job_id, "join")
    runner.drain()
    events = settled_log(runner, job_id)
    assert sequence(events, "join") == ["Task Queued"]
    assert of_type(events, "Task Queued", "join")[0]["requestId"] == claimed["requestId"]
