"""Test helpers shared by the suites: read what was published, act as a worker would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobmanager.aws import bus
from jobmanager.aws.clients import client
from jobmanager.config import BASE_DIR, get_config
from jobmanager.domain.events import EventType, Source, new_event


class EventTap:
    """An extra rule + SQS queue on the bus: a copy of every event published, to assert on.
    Removed at the end of the test that made it (tests/conftest.py): a tap left behind
    would take a copy of every later test's events, and each publish would grow slower."""

    opened: list[EventTap] = []

    def __init__(self) -> None:
        self.name = f"tap-{uuid.uuid4().hex[:8]}"
        sqs, events = client("sqs"), client("events")
        self.queue_url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.bus_name = get_config().event_bus_name
        events.put_rule(Name=self.name, EventBusName=self.bus_name,
                        EventPattern=json.dumps({"detail-type": ["log-event"]}))
        events.put_targets(Rule=self.name, EventBusName=self.bus_name, Targets=[{"Id": "tap", "Arn": arn}])
        self.seen: list[dict[str, Any]] = []
        EventTap.opened.append(self)

    def close(self) -> None:
        events = client("events")
        events.remove_targets(Rule=self.name, EventBusName=self.bus_name, Ids=["tap"])
        events.delete_rule(Name=self.name, EventBusName=self.bus_name)
        client("sqs").delete_queue(QueueUrl=self.queue_url)

    @classmethod
    def close_all(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()

    def read(self) -> list[dict[str, Any]]:
        sqs = client("sqs")
        while True:
            response = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                return self.seen
            for message in messages:
                self.seen.append(json.loads(message["Body"])["detail"])
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def types_for(self, job_id: str, task_id: str | None = None) -> list[str]:
        return [
            e["eventType"] for e in sorted(self.read(), key=lambda e: e["eventId"])
            if e.get("jobId") == job_id and (task_id is None or e.get("taskId") == task_id)
        ]


def take_task_messages(max_rounds: int = 1000) -> list[dict[str, Any]]:
    """Receive and delete every message on the task queue, until it is empty (acting as
    the worker's receive)."""
    sqs = client("sqs")
    url = get_config().task_queue_url
    bodies = []
    for _ in range(max_rounds):
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def worker_event(event_type: EventType, message: dict[str, Any], **data: Any):
    """The event a worker would publish for a task message."""
    return new_event(
        event_type,
        tenant_id=message["tenantId"],
        app_name=get_config().app_name,
        source=Source.WORKER,
        job_id=message["jobId"],
        task_id=message["taskId"],
        request_id=message["requestId"],
        attempt=message["attempt"],
        data={"taskDefinition": message["taskDefinition"], "workerId": "test-worker", **data},
    )


def run_as_worker(message: dict[str, Any], *, output: str = "ok", fail: dict | None = None) -> None:
    events = [worker_event(EventType.TASK_STARTED, message)]
    if fail is None:
        events.append(worker_event(EventType.TASK_COMPLETED, message, output=output, outputSize=len(output)))
    else:
        events.append(worker_event(EventType.TASK_FAILED, message, **fail))
    bus.publish(events)


def set_env(values: dict[str, str | None]) -> dict[str, str | None]:
    """Set (None: unset) environment variables for this process and the workers it starts;
    returns what they were."""
    before = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_config.cache_clear()
    return before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    """``manage.py ARGS`` in a subprocess with ``env``; its stdout (fails the test on an error)."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def django_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """``manage.py runserver`` on a free loopback port, in its own process; yields its URL
    once it answers (``/api/schema/``), stops it afterwards."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                                cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):  # polls until it answers, the process dies, or ~2 minutes pass
                try:
                    urllib.request.urlopen(f"{url}/api/schema/", timeout=5).close()
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise AssertionError(f"the server exited:\n{log.read_text()[-3000:]}") from None
                    time.sleep(0.2)
            else:
                raise AssertionError(f"the server never answered:\n{log.read_text()[-3000:]}")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
