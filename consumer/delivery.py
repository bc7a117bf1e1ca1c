"""A received task message and the bookkeeping around it: its outcome, its identity
for duplicate detection, its attempt number, its retry backoff and its heartbeat."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobmanager.aws.queue import ReceivedMessage

if TYPE_CHECKING:
    from .child import Child

MAX_BACKOFF_SECONDS = 900


class Outcome:
    COMPLETED = "completed"
    FAILED = "failed"  # terminal: the message was deleted
    RETRY = "retry"  # SQS will redeliver it
    LEFT = "left"  # not settled (publish failed, shutdown, malformed): SQS redelivers
    CANCELLED = "cancelled"  # its job was cancelled: stopped (or never started), message deleted
    # Another worker has this attempt, or the request is settled: this copy is deleted. Not
    # terminal: the worker must not remember it as finished (a redelivery of the message
    # that worker was running, if it dies, is this same key and must run).
    DUPLICATE = "duplicate"
    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})


@dataclass
class Delivery:
    message: ReceivedMessage
    receipt_handle: str  # replaced when SQS hands this worker the same message again
    child: Child | None = None
    body: dict[str, Any] = field(default_factory=dict)
    # Set just before the message is handed back to SQS (retry, malformed): from then on
    # a new delivery of it is a fresh attempt, not a duplicate of this one.
    settled: bool = False
    # Set by the heartbeat when the job's cancel marker appears: the task was killed for it.
    cancel_requested: bool = False

    @property
    def key(self) -> tuple[str, int] | None:
        """(requestId, attempt as dispatched): what a repeated send of the same task
        attempt shares. (Not the effective attempt: that grows with every receive, so a
        repeat would never match the original.)"""
        body = self.message.body
        if not body.get("requestId"):
            return None
        try:
            return str(body["requestId"]), int(body.get("attempt") or 1)
        except (TypeError, ValueError):
            return None


def effective_attempt(body: dict[str, Any], receive_count: int) -> int:
    """The dispatcher sends attempt n once; each SQS redelivery of that message is the next attempt."""
    try:
        sent = max(1, int(body.get("attempt") or 1))
    except (TypeError, ValueError):
        sent = 1
    return sent + max(1, receive_count) - 1


def backoff_seconds(attempt: int, base: float) -> int:
    """Exponential (base * 2**attempt), jittered ±20% so a burst of failures doesn't
    come back as a burst, capped at 15 minutes."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2**attempt) * random.uniform(0.8, 1.2)
    return int(min(MAX_BACKOFF_SECONDS, math.ceil(delay)))


class Heartbeat:
    """Calls ``beat`` every ``interval`` seconds on its own thread until stopped."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = max(0.1, interval)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            self._beat()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
