"""One error family. Each entry point maps it once: the API to a 4xx JSON body, the
dashboard to a message, the worker to a classified ``Task Failed``."""

from __future__ import annotations

from typing import Any


class JobManagerError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(JobManagerError):
    status_code = 400
    code = "invalid"


class NotFound(JobManagerError):
    status_code = 404
    code = "not_found"


class Conflict(JobManagerError):
    status_code = 409
    code = "conflict"


class TaskExecutionError(JobManagerError):
    """Raised while running a task. ``retryable`` decides between redelivery and a
    terminal failure."""

    code = "task_failed"

    def __init__(self, message: str, *, retryable: bool, kind: str = "error", details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.retryable = retryable
        self.kind = kind


class Unprocessable(JobManagerError):
    """Well-formed, but can't be done as asked (e.g. an Idempotency-Key reused for another request)."""

    status_code = 422
    code = "unprocessable"
