"""Limits a process manager would otherwise enforce (PM2: ``max_memory_restart: 1G``,
``cron_restart: daily``), enforced by the worker itself so that every process manager
gets them the gentle way.

Past its memory cap or its lifetime, the worker sends itself one SIGTERM: the warm
shutdown takes no new task, lets running ones finish, and exits 0; the process manager
(systemd ``Restart=always``, supervisor ``autorestart``, PM2) starts a fresh one. A hard
cap (systemd ``MemoryMax``) stays the backstop for a worker that cannot stop in time.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .processes import descendants

log = logging.getLogger(__name__)


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of ``pid`` and its descendants (the task processes), from /proc."""
    pid = pid or os.getpid()
    total = 0
    for current in (pid, *descendants(pid)):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue  # gone meanwhile, a kernel thread, or no /proc (not Linux): count what we can
    return total


def start_watchdog(
    *,
    max_memory_mb: int | None,
    max_lifetime_seconds: float | None,
    interval: float = 5.0,
    measure: Callable[[], int] = rss_bytes,
    stop: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM),
) -> threading.Thread | None:
    """Watch in a daemon thread; call ``stop`` once when a limit is passed."""
    if not max_memory_mb and not max_lifetime_seconds:
        return None
    started = time.monotonic()
    interval = min(interval, max_lifetime_seconds or interval)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if max_lifetime_seconds and time.monotonic() - started >= max_lifetime_seconds:
                log.warning("worker lifetime of %ss reached: finishing running tasks, then exiting for a restart",
                            max_lifetime_seconds)
                break
            if max_memory_mb and (used := measure()) >= max_memory_mb * 1024 * 1024:
                log.warning("worker uses %d MB (cap %d MB): finishing running tasks, then exiting for a restart",
                            used // (1024 * 1024), max_memory_mb)
                break
        stop()

    thread = threading.Thread(target=watch, name="worker-limits", daemon=True)
    thread.start()
    return thread
