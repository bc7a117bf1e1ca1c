"""Fixtures for the consumer tests. ``aws_stack`` comes from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.task import TaskRun
from jobmanager.domain.model import DefinitionKind, TaskDefinition


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., TaskRun]:
    """Build a TaskRun for an in-process executor call, its dirs under tmp_path."""

    def build(definition: TaskDefinition | None = None, *, task_input: dict[str, Any] | None = None,
              upstream: dict[str, str] | None = None, attempt: int = 1, **definition_fields: Any) -> TaskRun:
        definition = definition or TaskDefinition(name="t", kind=DefinitionKind.COMMAND, **definition_fields)
        base = tmp_path / "work" / "job-1" / "task-a"
        return TaskRun(
            job_id="job-1", task_id="task-a", request_id="req-1", attempt=attempt, definition=definition,
            task_input=task_input or {}, upstream=upstream or {}, work_dir=base / f"attempt-{attempt}",
            run_dir=base / f"attempt-{attempt}.run", default_model="claude-sonnet-4-5",
        )

    return build
