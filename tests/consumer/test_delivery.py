"""Attempts, backoff and duplicate detection (the worker's bookkeeping, in-process)."""

from __future__ import annotations

import threading
import time

import pytest

from consumer.delivery import MAX_BACKOFF_SECONDS, Delivery, Outcome, backoff_seconds, effective_attempt
from consumer.worker import Worker
from jobmanager.aws.queue import ReceivedMessage


def message(message_id: str = "m1", *, request_id: str = "r1", attempt: int = 1, receive_count: int = 1,
            handle: str = "h1") -> ReceivedMessage:
    body = {"jobId": "j", "taskId": "t", "tenantId": "x", "taskDefinition": "d", "requestId": request_id,
            "attempt": attempt}
    return ReceivedMessage(message_id=message_id, receipt_handle=handle, body=body, receive_count=receive_count)


@pytest.mark.parametrize(("sent", "receives", "expected"), [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 2), (2, 2, 3)])
def test_each_redelivery_is_the_next_attempt(sent, receives, expected):
    assert effective_attempt({"attempt": sent}, receives) == expected


def test_a_malformed_attempt_counts_as_the_first():
    assert effective_attempt({"attempt": "x"}, 2) == 2


def test_backoff_grows_with_jitter_and_is_capped():
    assert backoff_seconds(1, 0) == 0
    for attempt, middle in ((1, 10), (2, 20), (3, 40)):
        delays = {backoff_seconds(attempt, 5) for _ in range(50)}
        assert all(0.8 * middle <= d <= 1.2 * middle + 1 for d in delays)
        assert len(delays) > 1  # jittered
    capped = {backoff_seconds(20, 5) for _ in range(50)}
    assert all(0.8 * MAX_BACKOFF_SECONDS <= d <= MAX_BACKOFF_SECONDS for d in capped)  # jittered below the cap


def test_the_duplicate_key_is_the_dispatched_attempt_not_the_receive_count():
    first = Delivery(message=message(receive_count=1), receipt_handle="h1")
    again = Delivery(message=message("m2", receive_count=3), receipt_handle="h2")

    assert first.key == again.key == ("r1", 1)


class StubRunner:
    """Stands in for TaskRunner: each handle() blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.handled: list[Delivery] = []
        self.deleted: list[str] = []
        self.outcome = Outcome.COMPLETED

    def handle(self, delivery: Delivery) -> str:
        self.handled.append(delivery)
        self.release.wait(10)
        return self.outcome

    def delete(self, delivery: Delivery) -> None:
        self.deleted.append(delivery.receipt_handle)


@pytest.fixture
def worker(monkeypatch):
    monkeypatch.setenv("SQS_QUEUE_URL", "http://127.0.0.1:1/queue/tasks")
    from jobmanager.config import get_config

    get_config.cache_clear()
    w = Worker(concurrency=4, burst=True, queue_url=None, wait_seconds=0, retry_backoff=0)
    w.runner = StubRunner()  # type: ignore[assignment]
    yield w
    w.runner.release.set()
    w._drain()
    get_config.cache_clear()


def wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_redelivery_of_a_running_message_is_ignored_under_its_newest_handle(worker):
    worker._dispatch(message(handle="h1"))
    wait_until(lambda: len(worker.runner.handled) == 1)

    worker._dispatch(message(handle="h2", receive_count=2))

    assert len(worker.runner.handled) == 1
    assert worker.runner.handled[0].receipt_handle == "h2"  # only the newest handle can delete it
    assert worker.runner.deleted == []


def test_another_message_for_the_same_running_attempt_is_deleted_not_run(worker):
    worker._dispatch(message("m1"))
    wait_until(lambda: len(worker.runner.handled) == 1)

    worker._dispatch(message("m2", handle="h-twin"))

    time.sleep(0.05)
    assert len(worker.runner.handled) == 1
    assert worker.runner.deleted == ["h-twin"]


def test_a_retried_message_that_comes_back_runs_again(worker):
    worker._dispatch(message(handle="h1"))
    wait_until(lambda: len(worker.runner.handled) == 1)
    worker.runner.handled[0].settled = True  # what the runner does before handing it back to SQS

    worker._dispatch(message(handle="h2", receive_count=2))

    wait_until(lambda: len(worker.runner.handled) == 2)


def test_a_repeat_of_a_finished_attempt_is_deleted_without_running(worker):
    worker._dispatch(message("m1"))
    wait_until(lambda: len(worker.runner.handled) == 1)
    worker.runner.release.set()
    wait_until(lambda: not worker._busy())

    worker._dispatch(message("m2", handle="h-repeat"))

    assert len(worker.runner.handled) == 1
    assert worker.runner.deleted == ["h-repeat"]
