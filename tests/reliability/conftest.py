"""Fault-injection fixtures: a task queue and a tenant of each test's own (other suites'
leftovers stay out of the way), the local runner with the rule routes AND the DLQ sources,
real worker processes (killed at the end if a test left them running), the process groups
a killed worker orphans, and the producer API over HTTP."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobmanager.aws.clients import client
from jobmanager.local.runner import LocalRunner
from jobmanager.local.stack import local_rule_routes, local_sqs_sources
from tests.conftest import REGION
from tests.helpers import set_env
from tests.consumer.harness import WorkerProcess

from .harness import Api, kill_group_of


@pytest.fixture
def env(aws_stack) -> Iterator[Callable[[dict[str, str | None]], None]]:
    """``env({...})`` changes settings for the rest of the test; restored afterwards."""
    saved: list[dict[str, str | None]] = []
    yield lambda values: saved.append(set_env(values))
    for before in reversed(saved):
        set_env(before)


@pytest.fixture
def tenant(aws_stack) -> str:
    return f"rel-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_queue(env) -> Callable[..., str]:
    """A task queue of the test's own, made THE task queue (the dispatcher sends to it;
    workers get it with --queue-url). Optionally with a redrive to the stack's task DLQ."""

    def make(*, visibility: int = 900, max_receives: int | None = None) -> str:
        sqs = client("sqs")
        attributes = {"VisibilityTimeout": str(visibility)}
        if max_receives:
            dlq_arn = sqs.get_queue_attributes(QueueUrl=os.environ["TASK_DLQ_URL"],
                                               AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn,
                                                      "maxReceiveCount": str(max_receives)})
        url = sqs.create_queue(QueueName=f"rel-tasks-{uuid.uuid4().hex[:10]}", Attributes=attributes)["QueueUrl"]
        env({"TASK_QUEUE_URL": url, "SQS_QUEUE_URL": url})
        return url

    return make


@pytest.fixture
def runner(aws_stack) -> Iterator[LocalRunner]:
    """The local stand-in for EventBridge rules AND the DLQs' event sources, delivering in
    the background (as run_local does)."""
    routes = local_rule_routes(endpoint_url=aws_stack["endpoint_url"], region=REGION,
                               bus_name=aws_stack["EVENT_BUS_NAME"])
    the_runner = LocalRunner(routes, sources=local_sqs_sources(aws_stack), wait_seconds=1)
    the_runner.drain()  # start from empty rule queues and DLQs
    the_runner.start()
    yield the_runner
    the_runner.stop()


@pytest.fixture
def orphans() -> Iterator[list[Path]]:
    """Pid files of tasks whose worker gets killed: their process groups die at the end."""
    pidfiles: list[Path] = []
    yield pidfiles
    for pidfile in pidfiles:
        kill_group_of(pidfile)


@pytest.fixture
def workers(aws_stack, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """``workers(queue_url, **env)`` starts ``run_worker`` (concurrency 1, 1 s polls). Any
    still running at the end is stopped, cold."""
    started: list[WorkerProcess] = []

    def start(queue_url: str, *, concurrency: int = 1, **extra_env: str) -> WorkerProcess:
        worker_env = {**os.environ, "WAIT_TIME_SECONDS": "1", "WORK_ROOT": str(tmp_path / "work"),
                      "WORKER_ID": f"rel-worker-{len(started) + 1}", "PYTHONUNBUFFERED": "1",
                      # No heartbeat unless a test asks for one (interval in milliseconds).
                      "VISIBILITY_EXTENSION_INTERVAL": "60000", "VISIBILITY_EXTENSION_AMOUNT": "90",
                      "DJANGO_SECRET_KEY": "reliability-tests-not-a-real-secret", **extra_env}
        worker = WorkerProcess(worker_env, "--concurrency", str(concurrency), "--queue-url", queue_url,
                               "--wait-seconds", "1")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            worker.process.send_signal(signal.SIGTERM)  # cold: kill its tasks too
            worker.wait(timeout=30)


@pytest.fixture
def api(aws_stack, transactional_db, live_server, tenant) -> Api:
    """The producer API over HTTP (Django's live server), with an API key of ``tenant``."""
    from api.models import ApiKey

    _, key = ApiKey.issue(name="reliability", tenant_id=tenant)
    return Api(live_server.url, key)
