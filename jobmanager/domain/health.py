"""Is a running task fine? A pure classification from its clock readings.

The inputs are what the task item records — ``startedAt``, ``lastHeartbeatAt`` (progress
counts as a heartbeat), ``timeoutSeconds`` and ``heartbeatIntervalSeconds`` from
``Task Started`` — and ``now``. No I/O and no clock of its own, so the scheduled check,
the single check and the dashboard all agree, and tests move time by passing ``now``.

Levels, most severe first (the most severe that applies wins):

    overtime  past its timeout (plus a grace): the worker should have killed it by now
    critical  no heartbeat for several intervals: the worker is probably gone
    warning   past a share of its timeout (75%), or a heartbeat is late
    healthy   none of the above
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class HealthLevel(StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    OVERTIME = "overtime"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def alerts(self) -> bool:
        return self is not HealthLevel.HEALTHY


_SEVERITY = {HealthLevel.HEALTHY: 0, HealthLevel.WARNING: 1, HealthLevel.CRITICAL: 2, HealthLevel.OVERTIME: 3}
# Most severe first: the order the dashboard groups tasks in.
LEVELS_BY_SEVERITY = tuple(sorted(HealthLevel, key=lambda level: -level.severity))


@dataclass(frozen=True)
class Thresholds:
    """When a task stops being healthy (HEALTH_* settings)."""

    warning_ratio: float = 0.75
    critical_missed_heartbeats: float = 3
    # Heartbeats travel worker → bus → persistence: allow for that delay before calling one late.
    heartbeat_grace_seconds: float = 10
    # The worker kills a task at its timeout and then reports it: don't call that overtime.
    overtime_grace_seconds: float = 10

    def __post_init__(self) -> None:
        if not 0 < self.warning_ratio <= 1:
            raise ValueError(f"HEALTH_WARNING_RATIO must be in (0, 1], got {self.warning_ratio}")
        if self.critical_missed_heartbeats < 1:
            raise ValueError("HEALTH_CRITICAL_MISSED_HEARTBEATS must be at least 1, "
                             f"got {self.critical_missed_heartbeats}")
        if self.heartbeat_grace_seconds < 0 or self.overtime_grace_seconds < 0:
            raise ValueError("HEALTH_*_GRACE_SECONDS must not be negative")


@dataclass(frozen=True)
class Assessment:
    level: HealthLevel
    reason: str
    elapsed_seconds: float
    timeout_seconds: float
    seconds_since_heartbeat: float
    heartbeat_interval_seconds: float

    @property
    def timeout_ratio(self) -> float:
        return self.elapsed_seconds / self.timeout_seconds if self.timeout_seconds else 0.0


def classify(
    *,
    now: datetime,
    started_at: datetime,
    last_heartbeat_at: datetime | None,
    timeout_seconds: float,
    heartbeat_interval_seconds: float,
    thresholds: Thresholds = Thresholds(),
) -> Assessment:
    """Classify one running task. A task that never sent a heartbeat is measured from
    its start (Task Started is its first sign of life)."""
    if timeout_seconds <= 0 or heartbeat_interval_seconds <= 0:
        raise ValueError("timeout and heartbeat interval must be positive")
    # Clocks of different machines: a reading "from the future" counts as now, never negative.
    elapsed = max(0.0, (now - started_at).total_seconds())
    last_sign = max(started_at, last_heartbeat_at) if last_heartbeat_at else started_at
    silence = max(0.0, (now - last_sign).total_seconds())

    def assess(level: HealthLevel, reason: str) -> Assessment:
        return Assessment(level, reason, elapsed, timeout_seconds, silence, heartbeat_interval_seconds)

    timeout, interval = short_duration(timeout_seconds), short_duration(heartbeat_interval_seconds)
    if elapsed > timeout_seconds + thresholds.overtime_grace_seconds:
        return assess(HealthLevel.OVERTIME, f"running {short_duration(elapsed)}, past its timeout of {timeout}")
    critical_after = (thresholds.critical_missed_heartbeats * heartbeat_interval_seconds
                      + thresholds.heartbeat_grace_seconds)
    if silence > critical_after:
        missed = int(silence // heartbeat_interval_seconds)
        return assess(HealthLevel.CRITICAL, f"no heartbeat for {short_duration(silence)} ({missed} intervals of "
                                            f"{interval} missed): the worker is probably gone")
    if silence > heartbeat_interval_seconds + thresholds.heartbeat_grace_seconds:
        return assess(HealthLevel.WARNING,
                      f"heartbeat late: none for {short_duration(silence)} (expected every {interval})")
    if elapsed >= thresholds.warning_ratio * timeout_seconds:
        return assess(HealthLevel.WARNING, f"at {elapsed / timeout_seconds:.0%} of its timeout of {timeout}")
    return assess(HealthLevel.HEALTHY, f"heartbeating, at {elapsed / timeout_seconds:.0%} of its timeout")


def short_duration(seconds: float) -> str:
    """Short human durations for alert text: 45 s, 3m 05s, 2h 10m."""
    if seconds < 10:
        return f"{round(seconds, 1):g} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
