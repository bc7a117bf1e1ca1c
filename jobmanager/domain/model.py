"""States, task specs and task definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_TASK_STATES


TERMINAL_TASK_STATES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
)
ACTIVE_TASK_STATES = frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING})


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self is not JobStatus.RUNNING


TASK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFINITION_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# The Claude Code CLI's modes that need nobody at a prompt ("default" would ask, and wait).
PERMISSION_MODES = ("bypassPermissions", "dontAsk", "acceptEdits", "plan")


@dataclass(frozen=True)
class TaskSpec:
    """One task as submitted: which definition, with what input, after which tasks."""

    task_id: str
    task_definition: str
    input: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


class DefinitionKind(StrEnum):
    AGENT = "agent"
    COMMAND = "command"


@dataclass(frozen=True, kw_only=True)
class TaskDefinition:
    name: str
    kind: DefinitionKind
    description: str = ""
    role: str = ""
    tag: str = ""
    instructions: str = ""
    model: str | None = None
    max_turns: int = 10
    allowed_tools: tuple[str, ...] = ()
    timeout_seconds: int = 120
    max_attempts: int = 3
    # Base of the exponential retry backoff (attempt n waits about base * 2**n s); None: the
    # worker's --retry-backoff.
    retry_backoff_seconds: float | None = None
    command: tuple[str, ...] = ()
    max_budget_usd: float | None = None  # agent: the CLI stops a session that would spend more
    permission_mode: str | None = None  # agent: None = the worker's headless default
    version: int = 0
    updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": str(self.kind),
            "description": self.description,
            "role": self.role,
            "tag": self.tag,
            "instructions": self.instructions,
            "model": self.model,
            "maxTurns": self.max_turns,
            "allowedTools": list(self.allowed_tools),
            "timeoutSeconds": self.timeout_seconds,
            "maxAttempts": self.max_attempts,
            "retryBackoffSeconds": self.retry_backoff_seconds,
            "command": list(self.command),
            "maxBudgetUsd": self.max_budget_usd,
            "permissionMode": self.permission_mode,
            "version": self.version,
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskDefinition:
        return cls(
            name=data["name"],
            kind=DefinitionKind(data.get("kind", "agent")),
            description=data.get("description") or "",
            role=data.get("role") or "",
            tag=data.get("tag") or "",
            instructions=data.get("instructions") or "",
            model=data.get("model") or None,
            max_turns=int(data.get("maxTurns") or 10),
            allowed_tools=tuple(data.get("allowedTools") or ()),
            timeout_seconds=int(data.get("timeoutSeconds") or 120),
            max_attempts=int(data.get("maxAttempts") or 3),
            retry_backoff_seconds=None if data.get("retryBackoffSeconds") is None
            else float(data["retryBackoffSeconds"]),
            command=tuple(data.get("command") or ()),
            max_budget_usd=float(data["maxBudgetUsd"]) if data.get("maxBudgetUsd") is not None else None,
            permission_mode=data.get("permissionMode") or None,
            version=int(data.get("version") or 0),
            updated_at=data.get("updatedAt"),
        )


def budget_reached(job: dict[str, Any]) -> bool:
    """A job with a ``maxBudgetUsd`` whose agent tasks have cost that much: it starts no
    new agent task."""
    limit = job.get("maxBudgetUsd")
    return limit is not None and float(job.get("costUsd") or 0) >= float(limit)


def budget_left(job: dict[str, Any]) -> float | None:
    limit = job.get("maxBudgetUsd")
    return None if limit is None else max(0.0, float(limit) - float(job.get("costUsd") or 0))
