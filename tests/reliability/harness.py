"""Helpers for the fault-injection suite: the event log of a job as the store keeps it,
per-task sequences, waiting, HTTP, and the process groups a killed worker leaves behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from consumer.processes import alive as pid_alive  # noqa: F401 (tests import it from here)
from jobmanager.domain.model import TaskSpec
from jobmanager.local.runner import LocalRunner
from jobmanager.services import jobs, task_definitions
from jobmanager.store.events_table import get_event_store

T = TypeVar("T")
NOISE = ("Task Heartbeat", "Task Progress")

# A command that records its pid (so the test can find its process group) and then sleeps
# on the first attempt only; a later attempt prints and exits at once.
SLEEP_ON_FIRST_ATTEMPT = [
    "python", "-c",
    "import os, sys, time, pathlib; pathlib.Path(sys.argv[1]).write_text(str(os.getpid()));"
    "time.sleep(120 if os.environ['ATTEMPT'] == '1' else 0); print('done on attempt', os.environ['ATTEMPT'])",
    "{input.pidfile}",
]
# Records its pid, then sleeps whatever the attempt.
SLEEP = [
    "python", "-c",
    "import os, sys, time, pathlib; pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(120)",
    "{input.pidfile}",
]
NOOP = ["python", "-c", "print('ok')"]
# Waits for the test to open its gate (a file): certainly running until the test says so.
GATED = ["python", "-c",
         "import pathlib, sys, time\npath = pathlib.Path(sys.argv[1])\nwhile not path.exists(): time.sleep(0.1)\n"
         "print('released')", "{input.gate}"]


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def start_gated(tenant: str, workers: Callable[..., Any], queue_url: str, gate: Path, *, name: str) -> tuple[str, Any]:
    """A job of one task ``a`` held until ``gate`` (a file) exists, running on a new worker:
    returns the job id and the worker."""
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-gated", body={"kind": "command", "command": GATED})
    job = jobs.create_job(tenant_id=tenant, name=name, tasks=[TaskSpec("a", "rel-gated", {"gate": str(gate)})])
    worker = workers(queue_url)
    worker.wait_for_line(f"task started   job={job['jobId']} task=a")
    return job["jobId"], worker


def stop_when_job(worker: Any, job_id: str, status: str, *, timeout: float = 60) -> None:
    """Wait until the job reaches ``status``, then stop ``worker`` warmly (it must exit 0)."""
    wait_until(lambda: job_status(job_id) == status, timeout=timeout, what=f"the job to be {status}")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output


def settled_log(runner: LocalRunner, job_id: str, *, timeout: float = 30) -> list[dict[str, Any]]:
    """The job's log once the runner has delivered every event published so far (events
    reach the log through the persistence rule, after the projections have moved on)."""
    wait_until(runner.idle, timeout=timeout, what="the rule runner to deliver every event")
    return job_log(job_id)


def job_log(job_id: str) -> list[dict[str, Any]]:
    """Every event of the job as stored (the log: one item per event id), oldest first."""
    store = get_event_store()
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = store.job_events(job_id, limit=100, cursor=cursor)
        events += page.items
        cursor = page.next_cursor
        if not cursor:
            return events


def sequence(events: list[dict[str, Any]], task_id: str | None = None) -> list[str]:
    """Event types of one task (or of the job itself, for None), heartbeats left out."""
    return [e["eventType"] for e in events if e.get("taskId") == task_id and e["eventType"] not in NOISE]


def of_type(events: list[dict[str, Any]], event_type: str, task_id: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events if e["eventType"] == event_type and (task_id is None or e.get("taskId") == task_id)]


def task_status(job_id: str, task_id: str) -> str | None:
    item = get_event_store().get_task(job_id, task_id)
    return item["status"] if item else None


def job_status(job_id: str) -> str | None:
    job = get_event_store().get_job(job_id, consistent=True)
    return job["status"] if job else None


def kill_group_of(pidfile: Path) -> None:
    """SIGKILL the process group of the pid in ``pidfile`` (a task orphaned by a killed worker)."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(int(pidfile.read_text())), signal.SIGKILL)


class Api:
    """The producer API over real HTTP (the live server), with a tenant's key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.key = key

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.base_url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"x-api-key": self.key, "content-type": "application/json", "accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
