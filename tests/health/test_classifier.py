"""The classifier: pure, so every boundary is checked with hand-picked clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobmanager.domain.health import LEVELS_BY_SEVERITY, HealthLevel, Thresholds, classify, short_duration

T0 = datetime(2026, 12, 3, 18, 0, 0, tzinfo=UTC)
TIMEOUT = 120.0
INTERVAL = 20.0
# Defaults: warning at 75% (90 s) or heartbeat silent > 20 + 10 s; critical silent > 3 × 20 + 10 s;
# overtime past 120 + 10 s.
DEFAULTS = Thresholds()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def level(now: float, heartbeat: float | None = None, *, timeout: float = TIMEOUT, interval: float = INTERVAL,
          thresholds: Thresholds = DEFAULTS) -> HealthLevel:
    return classify(now=at(now), started_at=T0, last_heartbeat_at=at(heartbeat) if heartbeat is not None else None,
                    timeout_seconds=timeout, heartbeat_interval_seconds=interval, thresholds=thresholds).level


@pytest.mark.parametrize(
    ("now", "heartbeat", "expected"),
    [
        (0, None, HealthLevel.HEALTHY),  # just started
        (25, None, HealthLevel.HEALTHY),  # first heartbeat not due yet
        (30, None, HealthLevel.HEALTHY),  # due, within its grace
        (31, None, HealthLevel.WARNING),  # heartbeat late
        (60, 40, HealthLevel.HEALTHY),  # beating regularly
        (89, 80, HealthLevel.HEALTHY),  # just under 75% of the timeout
        (90, 80, HealthLevel.WARNING),  # 75% of the timeout
        (70, 0, HealthLevel.WARNING),  # silent 70 s: late, not yet critical (> 70 s)
        (71, 0, HealthLevel.CRITICAL),  # silent past 3 intervals + grace: the worker is probably gone
        (125, 120, HealthLevel.WARNING),  # past the timeout but within its grace: the worker is killing it
        (130, 125, HealthLevel.WARNING),
        (131, 125, HealthLevel.OVERTIME),  # past its timeout + grace, even with a fresh heartbeat
        (3600, 0, HealthLevel.OVERTIME),  # overtime outranks critical
    ],
)
def test_levels_at_the_boundaries(now, heartbeat, expected):
    assert level(now, heartbeat) is expected


def test_a_killed_worker_goes_warning_then_critical_then_overtime():
    # Given a task whose worker died right after its last heartbeat at 20 s
    # Then its level only ever gets worse as time passes
    seen = [level(now, 20) for now in range(20, 400, 5)]
    order = [lvl.severity for lvl in seen]
    assert order == sorted(order)
    assert [lvl for i, lvl in enumerate(seen) if i == 0 or seen[i - 1] is not lvl] == [
        HealthLevel.HEALTHY, HealthLevel.WARNING, HealthLevel.CRITICAL, HealthLevel.OVERTIME]


def test_thresholds_are_configurable():
    strict = Thresholds(warning_ratio=0.5, critical_missed_heartbeats=2, heartbeat_grace_seconds=0,
                        overtime_grace_seconds=0)
    assert level(60, 55, thresholds=strict) is HealthLevel.WARNING  # 50% of 120 s
    assert level(41, 0, thresholds=strict) is HealthLevel.CRITICAL  # silent > 2 × 20 s
    assert level(121, 120, thresholds=strict) is HealthLevel.OVERTIME
    assert level(41, 0) is HealthLevel.WARNING  # the defaults are more patient


@pytest.mark.parametrize("kwargs", [
    {"warning_ratio": 0}, {"warning_ratio": 1.5}, {"critical_missed_heartbeats": 0.5},
    {"heartbeat_grace_seconds": -1}, {"overtime_grace_seconds": -1},
])
def test_nonsense_thresholds_are_refused_with_the_setting_named(kwargs):
    with pytest.raises(ValueError, match="HEALTH_"):
        Thresholds(**kwargs)


def test_the_assessment_explains_itself():
    critical = classify(now=at(100), started_at=T0, last_heartbeat_at=at(20), timeout_seconds=TIMEOUT,
                        heartbeat_interval_seconds=INTERVAL)
    assert critical.level is HealthLevel.CRITICAL
    assert critical.reason == "no heartbeat for 1m 20s (4 intervals of 20 s missed): the worker is probably gone"
    assert (critical.elapsed_seconds, critical.seconds_since_heartbeat) == (100, 80)
    assert critical.timeout_ratio == pytest.approx(100 / 120)

    overtime = classify(now=at(200), started_at=T0, last_heartbeat_at=None, timeout_seconds=TIMEOUT,
                        heartbeat_interval_seconds=INTERVAL)
    assert overtime.reason == "running 3m 20s, past its timeout of 2m 00s"
    warning = classify(now=at(95), started_at=T0, last_heartbeat_at=at(90), timeout_seconds=TIMEOUT,
                       heartbeat_interval_seconds=INTERVAL)
    assert warning.reason == "at 79% of its timeout of 2m 00s"


def test_clock_skew_never_gives_negative_durations():
    # A heartbeat stamped by a worker whose clock runs ahead, and a start "in the future"
    ahead = classify(now=at(10), started_at=T0, last_heartbeat_at=at(15), timeout_seconds=TIMEOUT,
                     heartbeat_interval_seconds=INTERVAL)
    assert ahead.seconds_since_heartbeat == 0 and ahead.level is HealthLevel.HEALTHY
    early = classify(now=at(-5), started_at=T0, last_heartbeat_at=None, timeout_seconds=TIMEOUT,
                     heartbeat_interval_seconds=INTERVAL)
    assert early.elapsed_seconds == 0 and early.level is HealthLevel.HEALTHY


def test_a_heartbeat_older_than_the_start_counts_from_the_start():
    # (a previous attempt's heartbeat left on the item)
    assert level(25, -100) is HealthLevel.HEALTHY


def test_zero_timeout_or_interval_is_an_error():
    with pytest.raises(ValueError):
        classify(now=T0, started_at=T0, last_heartbeat_at=None, timeout_seconds=0, heartbeat_interval_seconds=20)
    with pytest.raises(ValueError):
        classify(now=T0, started_at=T0, last_heartbeat_at=None, timeout_seconds=10, heartbeat_interval_seconds=0)


def test_levels_by_severity_and_short_durations():
    assert [str(lvl) for lvl in LEVELS_BY_SEVERITY] == ["overtime", "critical", "warning", "healthy"]
    assert [lvl.alerts for lvl in LEVELS_BY_SEVERITY] == [True, True, True, False]
    assert [short_duration(s) for s in (0.25, 5, 45, 185, 7800)] == ["0.2 s", "5 s", "45 s", "3m 05s", "2h 10m"]
