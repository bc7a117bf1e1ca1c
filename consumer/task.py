"""What one attempt of a task needs in order to run, and what it produces.

A ``TaskRun`` is built by the worker (which talks to AWS) and handed to a child
process (which doesn't): every S3 pointer is already resolved, so executors are
plain functions of their input and can also be called in-process (tests).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.model import TaskDefinition

# Ids become directory names: refuse anything that could climb out of work_root.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True, kw_only=True)
class TaskRun:
    job_id: str
    task_id: str
    request_id: str
    attempt: int
    definition: TaskDefinition
    task_input: dict[str, Any]
    upstream: dict[str, str]  # taskId -> output text
    work_dir: Path  # the task's cwd: every file left here is uploaded as an artifact
    run_dir: Path  # scratch beside work_dir (context file, captured streams, transcript): never uploaded
    default_model: str = ""
    timeout: float | None = None
    inactivity_timeout: float | None = None  # agent tasks: no message from the CLI for this long
    budget_usd: float | None = None  # what is left of the job's maxBudgetUsd, when it has one

    @property
    def context_file(self) -> Path:
        return self.run_dir / "context.json"

    @property
    def stdout_file(self) -> Path:
        return self.run_dir / "stdout"

    @property
    def stderr_file(self) -> Path:
        return self.run_dir / "stderr"

    @property
    def transcript_file(self) -> Path:
        return self.run_dir / "transcript.jsonl"

    @property
    def log_file(self) -> Path:
        """The attempt's own log (session start, tools, result or error), uploaded to S3."""
        return self.run_dir / "task.log"


@dataclass(kw_only=True)
class TaskResult:
    output: str
    exit_code: int | None = None  # command tasks
    cost_usd: float | None = None  # agent tasks, from here on
    usage: dict[str, Any] | None = None
    num_turns: int | None = None
    model: str | None = None
    agent_duration_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def task_dirs(work_root: Path, job_id: str, task_id: str, attempt: int) -> tuple[Path, Path]:
    """``(work_dir, run_dir)`` for one attempt: ``<root>/<job>/<task>/attempt-<n>`` and a
    sibling ``attempt-<n>.run``."""
    for label, value in (("jobId", job_id), ("taskId", task_id)):
        if not _SAFE_ID.match(value):
            raise TaskExecutionError(f"{label} {value[:80]!r} is not a safe identifier", retryable=False,
                                     kind="invalid_message")
    base = work_root / job_id / task_id
    return base / f"attempt-{attempt}", base / f"attempt-{attempt}.run"


def fresh_dirs(run: TaskRun) -> None:
    """Start from empty directories: a redelivered attempt must not upload the files a
    crashed earlier run of the same attempt left behind."""
    for directory in (run.work_dir, run.run_dir):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
