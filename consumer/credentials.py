"""Claude credentials: checked by the worker before a child is forked for an agent task
(no credentials fail the task in milliseconds, naming what to set), and again in the
child by the agent executor (which may also be called in-process)."""

from __future__ import annotations

import os

from jobmanager.domain.errors import TaskExecutionError

CREDENTIAL_VARS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")


def require_credentials() -> None:
    if not any(os.environ.get(name) for name in CREDENTIAL_VARS):
        raise TaskExecutionError(
            "no Claude credentials: set ANTHROPIC_API_KEY (an API key) or CLAUDE_CODE_OAUTH_TOKEN "
            "(from `claude setup-token`) in the worker's environment",
            retryable=False, kind="auth",
        )
