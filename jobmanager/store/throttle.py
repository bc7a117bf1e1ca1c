"""Request counters for API throttling, in the events table, shared by every process.

Each API key has one fixed-window counter per limit and window; a request increments each
counter with one conditional ``UpdateItem`` (``ADD`` under ``count < limit``), so any
number of Lambda instances and processes agree on the count without a read-then-write.
A window that is full refuses the request and says when it resets. Counters expire
through the table's TTL a day after their window ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from jobmanager.aws.clients import dynamodb_resource
from jobmanager.config import get_config

from . import keys

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Window:
    name: str
    millis: int
    limit: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until the refusing window resets
    window: Window | None = None


def usage_plan_windows(*, rate: float, burst: int, quota_per_day: int) -> list[Window]:
    """The seed's usage plan (rate 100/s, burst 50, 10,000/day) as fixed windows.

    A token bucket of ``burst`` tokens refilled at ``rate``/s becomes a window of
    ``burst / rate`` seconds (0.5 s) that admits ``burst`` requests: the sustained rate is
    ``rate`` and no window admits more than ``burst``. Like any fixed window, two full
    windows back to back can admit ``2 * burst`` within a short span around the boundary.
    The day window is the UTC day."""
    if rate <= 0 or burst <= 0 or quota_per_day <= 0:
        raise ValueError("rate, burst and quota must be positive")
    return [
        Window("burst", max(1, round(burst / rate * 1000)), burst),
        Window("day", DAY_MS, quota_per_day),
    ]


class ThrottleStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def hit(self, api_key_id: str, windows: list[Window], *, now_ms: int) -> Verdict:
        """Count one request in every window, shortest first: a request the rate refuses
        is not charged to the day's quota."""
        for window in sorted(windows, key=lambda w: w.millis):
            start = now_ms - now_ms % window.millis
            end = start + window.millis
            try:
                self.table.update_item(
                    Key=keys.throttle_key(api_key_id, window.name, start),
                    UpdateExpression="ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)",
                    ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                    ExpressionAttributeNames={"#count": "count", "#ttl": "ttl"},
                    ExpressionAttributeValues={":one": 1, ":limit": window.limit, ":ttl": (end + DAY_MS) // 1000},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return Verdict(False, (end - now_ms) / 1000, window)
                raise
        return Verdict(True)


def get_throttle_store() -> ThrottleStore:
    # No cache of our own: the resource is cached (and reset) by jobmanager.aws.clients.
    return ThrottleStore(dynamodb_resource().Table(get_config().events_table))
