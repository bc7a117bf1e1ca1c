"""The cost of one dispatch, counted exactly (boto3 hooks on the real clients, against
the emulator): it depends on the completed task's successors, never on the job's size."""

from __future__ import annotations

import pytest

from jobmanager.aws import bus, metering
from jobmanager.domain.events import EventType
from jobmanager.domain.model import TaskSpec
from jobmanager.services import dispatch, jobs, task_definitions
from tests.helpers import take_task_messages, worker_event

TENANT = "test-tenant"

# Mark ``a`` completed and count it on the job (one transaction); read ``a`` back (its
# successors and output) and the job (strongly); count ``a`` done on ``b``, claim ``b``;
# announce ``Task Queued``; send ``b``; record the send.
ONE_DISPATCH = {
    "dynamodb.GetItem": 2,
    "dynamodb.TransactWriteItems": 1,
    "dynamodb.UpdateItem": 3,
    "events.PutEvents": 1,
    "sqs.SendMessageBatch": 1,
}


@pytest.fixture(autouse=True)
def _definitions(aws_stack):
    task_definitions.put_task_definition(tenant_id=TENANT, name="noop",
                                         body={"kind": "command", "command": ["true"], "maxAttempts": 1})
    take_task_messages()


def chain(size: int) -> list[TaskSpec]:
    """``a`` → ``b`` → ``c0000`` → …: every task has one successor."""
    ids = ["a", "b"] + [f"c{i:04d}" for i in range(size - 2)]
    return [TaskSpec(task_id, "noop", {"n": n}, (ids[n - 1],) if n else ()) for n, task_id in enumerate(ids)]


def fan_out(width: int) -> list[TaskSpec]:
    return [TaskSpec("a", "noop", {}), *(TaskSpec(f"s{i:03d}", "noop", {}, ("a",)) for i in range(width))]


def dispatch_of_a(tasks: list[TaskSpec], rule_runner) -> tuple[metering.Meter, list[str]]:
    """Submit, run ``a`` as a worker would, then meter the dispatcher handling its
    ``Task Completed``. Returns the meter and the task ids it sent."""
    jobs.create_job(tenant_id=TENANT, name="counted", tasks=tasks)
    (message,) = take_task_messages()
    bus.publish([worker_event(EventType.TASK_STARTED, message)])
    rule_runner.drain()
    completed = worker_event(EventType.TASK_COMPLETED, message, output="done", outputSize=4)
    with metering.meter() as meter:
        dispatch.handle_event(completed)
    sent = sorted(m["taskId"] for m in take_task_messages())
    rule_runner.drain()
    return meter, sent


def test_one_dispatch_makes_the_same_requests_in_a_job_of_10_and_of_1000_tasks(rule_runner):
    small, sent_small = dispatch_of_a(chain(10), rule_runner)
    big, sent_big = dispatch_of_a(chain(1000), rule_runner)

    assert sent_small == sent_big == ["b"]
    assert small.by_operation() == ONE_DISPATCH
    assert big.by_operation() == ONE_DISPATCH
    assert small.total == big.total == 8
    # The same two items read (the job's taskCount is one digit longer: "1000" vs "10")
    assert big.bytes_read - small.bytes_read == 2 and small.read_units == big.read_units == 2


def test_a_fan_out_of_500_is_sent_in_batches_of_ten(rule_runner):
    meter, sent = dispatch_of_a(fan_out(500), rule_runner)

    assert sent == [f"s{i:03d}" for i in range(500)]
    ops = meter.by_operation()
    # Per successor: one count of ``a`` done and one claim. Per 10 successors: one
    # PutEvents, one SendMessageBatch, one transaction recording the sends.
    assert ops["dynamodb.UpdateItem"] == 2 * 500
    assert ops["events.PutEvents"] == ops["sqs.SendMessageBatch"] == 50
    assert ops["dynamodb.TransactWriteItems"] == 1 + 50
    assert ops["dynamodb.GetItem"] == 2
