"""The local stand-in for the health check's schedule (production: every 5 minutes, a
Zappa scheduled event). ``run_local`` runs the very same handler in a thread, every
minute, so a stuck task shows up on the dashboard's health page and alerts locally too."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from jobmanager.domain.redaction import redact

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0


def _scheduled_check() -> dict[str, Any]:
    from lambdas.health_check import handler

    return handler({"source": "run_local"}, None)


class HealthCheckLoop:
    def __init__(self, *, interval: float = INTERVAL_SECONDS, check: Callable[[], dict[str, Any]] = _scheduled_check,
                 say: Callable[[str], None] = print) -> None:
        self.interval = interval
        self.check = check
        self.say = say
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HealthCheckLoop:
        self._thread = threading.Thread(target=self._loop, name="health-check", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def run_once(self) -> dict[str, Any] | None:
        try:
            result = self.check()
        except Exception as exc:  # the emulator going away at shutdown, say: try again next minute
            log.warning("health check failed: %s", redact(f"{exc.__class__.__name__}: {exc}"))
            return None
        self.runs += 1
        for alert in result.get("alerts", []):
            self.say(f"health: {alert['level']} {alert['jobId']}/{alert['taskId']} (slack: {alert['slack']})")
        return result
