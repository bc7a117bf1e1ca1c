"""Executors: one function per task-definition kind, ``TaskRun -> TaskResult``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobmanager.domain.model import DefinitionKind

from ..task import TaskResult, TaskRun


def execute(run: TaskRun, *, on_progress: Callable[[dict[str, Any]], None] | None = None,
            timeout: float | None = None) -> TaskResult:
    if run.definition.kind is DefinitionKind.COMMAND:
        from .command import run_command

        return run_command(run, timeout=timeout)
    from .agent import run_agent

    return run_agent(run, on_progress=on_progress, timeout=timeout)
