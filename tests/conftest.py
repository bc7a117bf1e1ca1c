"""Shared fixtures: the embedded AWS emulator with the real infra/ template deployed,
and the environment every component reads. No network beyond loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from jobmanager.aws import clients
from jobmanager.config import get_config
from jobmanager.local.emulator import start_emulator
from jobmanager.local.runner import LocalRunner
from jobmanager.local.stack import deploy_stack, local_rule_routes, stack_environment
from jobmanager.store import events_table, task_definitions
from tests.helpers import EventTap

REGION = "eu-west-1"
STAGE = "test"


def reset_aws_caches() -> None:
    get_config.cache_clear()
    clients.reset()
    events_table._store_for.cache_clear()
    task_definitions._store_for.cache_clear()


@pytest.fixture(scope="session")
def aws_stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Start the emulator, deploy infra/template.yaml (Local=true) and export the
    stack's environment for the whole session. Returns the env (+ ``endpoint_url``)."""
    saved = dict(os.environ)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        os.environ.pop(name, None)
    emulator = start_emulator()
    outputs = deploy_stack(endpoint_url=emulator.endpoint_url, stage=STAGE, region=REGION)
    env = stack_environment(outputs, endpoint_url=emulator.endpoint_url, region=REGION, stage=STAGE)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TENANT_ID": "test-tenant",
            "WORK_ROOT": str(tmp_path_factory.mktemp("work")),
        }
    )
    os.environ.update(env)
    reset_aws_caches()
    yield {**env, "endpoint_url": emulator.endpoint_url}
    emulator.stop()
    os.environ.clear()
    os.environ.update(saved)
    reset_aws_caches()


@pytest.fixture(autouse=True)
def _close_event_taps() -> Iterator[None]:
    yield
    EventTap.close_all()


@pytest.fixture
def rule_runner(aws_stack) -> LocalRunner:
    """The local EventBridge→handler delivery; call ``.drain()`` to run handlers until
    every rule queue is empty, or ``.start()`` for background delivery."""
    routes = local_rule_routes(
        endpoint_url=aws_stack["endpoint_url"], region=REGION, bus_name=aws_stack["EVENT_BUS_NAME"]
    )
    runner = LocalRunner(routes)
    runner.drain()  # start each test from empty rule queues
    yield runner
    runner.stop()
