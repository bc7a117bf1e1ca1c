"""Dashboard fixtures: a task definition, a logged-in client, and a way to act as the
worker (take the queued messages, report them done, let the dispatcher run)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions
from tests.helpers import run_as_worker, take_task_messages

TENANT = "test-tenant"  # conftest's TENANT_ID: the tenant dashboard users act for
DEF = "dash-echo"  # a definition of our own, so other suites' "noop" is left alone


@pytest.fixture
def echo_definition(aws_stack):
    take_task_messages()  # drop messages other tests left queued, so drive() runs only ours
    task_definitions.put_task_definition(
        tenant_id=TENANT, name=DEF,
        body={"kind": "command", "command": ["echo", "{input.n}"], "maxAttempts": 2, "description": "does nothing"},
    )
    yield
    take_task_messages()  # and leave none of ours for the suites that run after us


def diamond() -> list[TaskSpec]:
    return [
        TaskSpec("a", DEF, {"n": 1}),
        TaskSpec("b", DEF, {}, ("a",)),
        TaskSpec("c", DEF, {}, ("a",)),
        TaskSpec("d", DEF, {}, ("b", "c")),
    ]


def new_job(name: str | None = None, *, tenant_id: str = TENANT, tasks: list[TaskSpec] | None = None) -> dict:
    return jobs.create_job(tenant_id=tenant_id, name=name or f"job-{uuid.uuid4().hex[:8]}", tasks=tasks or diamond())


def drive(rule_runner, *, rounds: int = 20, steps: int | None = None,
          act: Callable[[dict], None] | None = None) -> list[str]:
    """Act as the worker until nothing is queued (or for ``steps`` rounds). Each task
    outputs ``out-<taskId>`` unless ``act`` handles the message. Returns task ids run."""
    ran: list[str] = []
    for _ in range(steps or rounds):
        messages = take_task_messages()
        if not messages:
            break
        for message in messages:
            ran.append(message["taskId"])
            if act:
                act(message)
            else:
                run_as_worker(message, output=f"out-{message['taskId']}")
        rule_runner.drain()
    return ran


@pytest.fixture
def ops_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="ops", password="not-a-real-password")
    client.force_login(user)
    return client
