"""Count AWS requests, and DynamoDB read capacity, per operation we care about.

Every boto3 client and resource comes from ``clients.session()``, whose event system
carries these hooks, so nothing else has to cooperate::

    with metering.meter() as m:
        dispatch.handle_event(event)
    m.requests          # Counter({("dynamodb", "UpdateItem"): 3, ("events", "PutEvents"): 1, ...})
    m.bytes_read, m.read_units

Counts are exact and deterministic (unlike times), so tests assert them and the
benchmarks print them. Read capacity is derived from the bytes of the items DynamoDB
returns, rounded up to 4 KB units per request as DynamoDB bills a strongly consistent
read (the emulator's own ``ConsumedCapacity`` is a constant per call, so useless).
With no meter open the hooks cost one check. Meters count every thread of this process.

``JOBMANAGER_AWS_CALLS_LOG=FILE`` also appends each distinct call a process makes (its
operation and the resource it names: table, queue, bus, bucket/key; never a body) to FILE
as JSON lines, from every process that inherits the variable: what an IAM policy must
allow (tests/deploy/test_worker_role.py checks infra/worker-role.yaml against it).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_lock = threading.Lock()
_open: list[Meter] = []
_paused = 0
_started = threading.local()


@dataclass
class Meter:
    requests: Counter = field(default_factory=Counter)  # (service, operation) -> calls
    bytes_read: int = 0  # DynamoDB items returned, as JSON
    read_units: int = 0  # 4 KB units of those, rounded up per request (a strongly consistent read's price)
    seconds: float = 0.0  # spent waiting for AWS (all threads: may exceed wall time)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def count(self, service: str | None = None) -> int:
        return sum(n for (svc, _), n in self.requests.items() if service in (None, svc))

    def by_operation(self) -> dict[str, int]:
        """``{"dynamodb.UpdateItem": 3, ...}``, sorted: easy to compare and to print."""
        return {f"{svc}.{op}": n for (svc, op), n in sorted(self.requests.items())}

    def describe(self) -> str:
        return ", ".join(f"{n} {name}" for name, n in self.by_operation().items()) or "none"


@contextmanager
def meter() -> Iterator[Meter]:
    m = Meter()
    with _lock:
        _open.append(m)
    try:
        yield m
    finally:
        with _lock:
            _open.remove(m)


@contextmanager
def paused() -> Iterator[None]:
    """Calls made meanwhile count for no meter (test scaffolding around a measurement)."""
    global _paused
    with _lock:
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1


def _active() -> bool:
    return bool(_open) and not _paused


def install(events: Any) -> None:
    """Register the hooks on a boto3/botocore event emitter (the session's)."""
    events.register("before-call", _count_request)
    events.register("after-call", _count_time)
    events.register("after-call.dynamodb", _count_read)
    if path := os.environ.get(CALLS_LOG_VARIABLE):
        events.register("before-parameter-build", _CallLog(path))


CALLS_LOG_VARIABLE = "JOBMANAGER_AWS_CALLS_LOG"
_RESOURCE_PARAMS = ("TableName", "QueueUrl", "Bucket", "Key")


class _CallLog:
    """Appends ``{"service", "operation", "resource": {...}}`` per distinct call."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        resource = {name: params[name] for name in _RESOURCE_PARAMS if isinstance(params.get(name), str)}
        if buses := sorted({entry.get("EventBusName", "default") for entry in params.get("Entries") or []
                            if isinstance(entry, dict) and "Detail" in entry}):
            resource["EventBusNames"] = buses
        line = json.dumps({"service": _service(model), "operation": model.name, "resource": resource},
                          sort_keys=True)
        with self.lock:
            if line in self.seen:
                return
            self.seen.add(line)
            with open(self.path, "a", encoding="utf-8") as log:  # one short line per write: appends don't interleave
                log.write(line + "\n")


def _service(model: Any) -> str:
    return model.service_model.service_name


def _count_request(model: Any, **_: Any) -> None:
    if not _active():
        return
    key = (_service(model), model.name)
    with _lock:
        for m in _open:
            m.requests[key] += 1
    _started.at = time.perf_counter()


def _count_time(**_: Any) -> None:
    started = getattr(_started, "at", None)
    if started is None or not _active():
        return
    _started.at = None
    with _lock:
        for m in _open:
            m.seconds += time.perf_counter() - started


def _items(parsed: dict[str, Any]) -> list[Any]:
    """The items a DynamoDB read returns (GetItem, Query, Scan, BatchGetItem). A write's
    returned attributes (``ReturnValues``) cost no read capacity, so they don't count."""
    found = [parsed["Item"]] if parsed.get("Item") else []
    found += parsed.get("Items") or []
    for items in (parsed.get("Responses") or {}).values() if isinstance(parsed.get("Responses"), dict) else []:
        found += items
    return found


def _count_read(parsed: dict[str, Any], **_: Any) -> None:
    if not _active() or not parsed:
        return
    size = sum(len(json.dumps(item, default=str, separators=(",", ":"))) for item in _items(parsed))
    units = -(-size // 4096)
    with _lock:
        for m in _open:
            m.bytes_read += size
            m.read_units += units
