"""Running the real worker in tests: a subprocess wrapper, and helpers to put task
messages on a queue and read back what the worker published."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from consumer.processes import alive  # noqa: F401 (tests import it from here)
from jobmanager.aws import queue
from jobmanager.aws.clients import client
from jobmanager.domain.ids import new_ulid
from jobmanager.domain.model import DefinitionKind, TaskDefinition
from jobmanager.services.dispatch import task_message
from jobmanager.store.task_definitions import get_task_definition_store
from tests.helpers import EventTap

ROOT = Path(__file__).resolve().parents[2]
TENANT = "test-tenant"


class WorkerProcess:
    """``manage.py run_worker`` in a subprocess, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, fragment: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if fragment in line:
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {fragment!r} in worker output:\n{self.output}")

    def wait(self, timeout: float = 90) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"worker did not exit within {timeout}s:\n{self.output}") from None
        self._reader.join(5)
        return code


def new_stack(tmp_path: Path) -> dict[str, Any]:
    """A fresh task queue, an event tap and a work root for one test."""
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName=f"tasks-{uuid.uuid4().hex[:10]}",
                                 Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
    env = {**os.environ, "WAIT_TIME_SECONDS": "1", "WORK_ROOT": str(tmp_path / "work"),
           "VISIBILITY_EXTENSION_INTERVAL": "300", "VISIBILITY_EXTENSION_AMOUNT": "30",
           "WORKER_ID": "worker-under-test", "PYTHONUNBUFFERED": "1",
           "DJANGO_SECRET_KEY": "worker-tests-not-a-real-secret"}
    return {"queue_url": queue_url, "tap": EventTap(), "env": env, "work_root": tmp_path / "work", "tmp": tmp_path}


def define(name: str, *, kind: DefinitionKind = DefinitionKind.COMMAND, **fields: Any) -> str:
    get_task_definition_store().put(TaskDefinition(name=name, kind=kind, **fields))
    return name


def send(stack: dict[str, Any], definition: str, *, task_id: str = "a", task_input: dict | None = None,
         upstream: dict[str, dict] | None = None, max_attempts: int = 3, job_id: str | None = None,
         **task_fields: Any) -> dict[str, Any]:
    job = {"jobId": job_id or new_ulid(), "tenantId": TENANT}
    task = {"taskId": task_id, "requestId": new_ulid(), "attempt": 1, "taskDefinition": definition,
            "maxAttempts": max_attempts, "input": task_input or {}, **task_fields}
    body = task_message(job, task, upstream or {})
    queue.send_messages([body], queue_url=stack["queue_url"])
    return body


def run_burst(stack: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> WorkerProcess:
    worker = WorkerProcess(env or stack["env"], "--burst", "--concurrency", "2", "--queue-url", stack["queue_url"],
                           *args)
    code = worker.wait()
    assert code == 0, worker.output
    return worker


def events_for(stack: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
    seen = stack["tap"].read()
    mine = [e for e in seen if e.get("jobId") == body["jobId"] and e.get("taskId") == body["taskId"]]
    return sorted(mine, key=lambda e: (e["timestamp"], e["eventId"]))


def queue_counts(stack: dict[str, Any]) -> tuple[int, int]:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=stack["queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])
