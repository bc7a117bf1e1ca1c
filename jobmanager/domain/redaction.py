"""The error/log sanitizer: no token, key or credential leaves the process.

Applied to every error message a task reports, to log records, and to anything the
API or the dashboard shows that came from a task."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

REDACTED = "[REDACTED]"

_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"xox[abposr]-[A-Za-z0-9\-]{8,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"\bjm_[A-Za-z0-9_\-]{20,}"),  # our own API keys
    re.compile(
        r"(?i)\b((?:aws_)?secret(?:_access)?_key|api[_-]?key|x-api-key|[a-z_-]*token|password|passwd"
        r"|[a-z_-]*secret)(\s*[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]{4,})"
    ),
]

SECRET_ENV_VARS = (
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_WEBHOOK_URL",
    "DJANGO_SECRET_KEY",
)


def _secret_values() -> list[str]:
    # Read at call time: tests and workers set these after import.
    return [v for name in SECRET_ENV_VARS if len(v := os.environ.get(name, "")) >= 6]


def redact(text: str, *, patterns: bool = True) -> str:
    """Cut out the process's secret values and, with ``patterns``, anything shaped like a
    credential. A task's output gets the values only: "max_tokens: 100" in an answer is
    content, not a secret."""
    if not text:
        return text
    for value in _secret_values():
        text = text.replace(value, REDACTED)
    if not patterns:
        return text
    for pattern in _PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
