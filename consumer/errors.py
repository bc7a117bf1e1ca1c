"""One classifier for everything a task can raise: retryable (SQS redelivers the
message with attempt+1) or permanent (the task fails now).

The rule of thumb: a failure that another attempt, a minute later, could plausibly
get past (rate limits, overload, 5xx, network, a crashed CLI, a timeout) is
retryable; one that would fail the same way again (bad credentials, a bad definition
or template, an exhausted budget or turn limit, a 4xx from AWS) is permanent.
Every message is redacted here, so nothing that leaves the worker carries a secret.
"""

from __future__ import annotations

import re
import subprocess

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from jobmanager.domain.errors import JobManagerError, NotFound, TaskExecutionError, ValidationFailed
from jobmanager.domain.redaction import redact

MAX_MESSAGE_CHARS = 4000

# botocore 4xx codes that mean "slow down / try again", not "your request is wrong".
_AWS_RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "SlowDown", "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
    "TransactionInProgressException", "LimitExceededException",
})

# HTTP statuses from the Anthropic API, as the CLI reports them.
_RETRYABLE_STATUS = {408: "timeout", 409: "conflict", 429: "rate_limit", 529: "overloaded"}
_PERMANENT_STATUS = {400: "invalid_request", 401: "auth", 402: "billing", 403: "auth", 404: "not_found",
                     413: "request_too_large"}

# Text patterns, first match wins: permanent ones are checked first, because an
# "invalid API key" error may also mention a 4xx/5xx-looking number.
_PERMANENT_TEXT = [
    (re.compile(r"(?i)invalid (x-)?api[ -]?key|authentication[_ ]?(error|failed)|unauthori[sz]ed|"
                r"oauth token|please run /login|not logged in|\b401\b|\b403\b|permission_error"), "auth"),
    (re.compile(r"(?i)cannot be used with root|claude code not found|no such file or directory: .*claude"), "config"),
    (re.compile(r"(?i)credit balance|billing|insufficient (funds|credit)"), "billing"),
    (re.compile(r"(?i)budget"), "budget"),
    (re.compile(r"(?i)max(imum)?[ _]turns"), "max_turns"),
    (re.compile(r"(?i)invalid_request_error|prompt is too long|context (length|window)"), "invalid_request"),
]
_RETRYABLE_TEXT = [
    (re.compile(r"(?i)rate[ _-]?limit|\b429\b|too many requests"), "rate_limit"),
    (re.compile(r"(?i)overloaded|\b529\b"), "overloaded"),
    (re.compile(r"(?i)\b50[0-4]\b|internal server error|bad gateway|service unavailable|api_error"), "server_error"),
    (re.compile(r"(?i)timed? ?out|timeout|deadline exceeded"), "timeout"),
    (re.compile(r"(?i)econn(reset|refused)|connection (error|reset|refused|closed)|network|socket hang up|"
                r"etimedout|enotfound|eai_again|fetch failed"), "network"),
]


def _error(message: str, *, retryable: bool, kind: str, details: dict | None = None) -> TaskExecutionError:
    text = redact(message.strip() or kind)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 20] + " …[truncated]"
    return TaskExecutionError(text, retryable=retryable, kind=kind, details=details)


def classify_text(message: str, *, default_retryable: bool, default_kind: str) -> TaskExecutionError:
    """Classify an error known only by its text (CLI stderr, an API error body)."""
    for pattern, kind in _PERMANENT_TEXT:
        if pattern.search(message):
            return _error(message, retryable=False, kind=kind)
    for pattern, kind in _RETRYABLE_TEXT:
        if pattern.search(message):
            return _error(message, retryable=True, kind=kind)
    return _error(message, retryable=default_retryable, kind=default_kind)


def classify_status(status: int | None, message: str, *, subtype: str | None = None) -> TaskExecutionError:
    """An Anthropic API failure (status from the CLI's result) or a terminal result subtype."""
    if subtype == "error_max_turns":
        return _error(message, retryable=False, kind="max_turns")
    if subtype and "budget" in subtype:
        return _error(message, retryable=False, kind="budget")
    if status in _RETRYABLE_STATUS:
        return _error(message, retryable=True, kind=_RETRYABLE_STATUS[status])
    if status is not None and status >= 500:
        return _error(message, retryable=True, kind="server_error")
    if status in _PERMANENT_STATUS:
        return _error(message, retryable=False, kind=_PERMANENT_STATUS[status])
    # An error result without a status: the CLI gave up mid-run; its text decides, and
    # an unexplained one is worth one more try.
    return classify_text(message, default_retryable=True, default_kind="agent_error")


def _classify_sdk(exc: Exception) -> TaskExecutionError | None:
    try:  # the SDK is a worker-only dependency
        from claude_agent_sdk import (
            ClaudeSDKError,
            CLIConnectionError,
            CLIJSONDecodeError,
            CLINotFoundError,
            ProcessError,
        )
        from claude_agent_sdk._errors import MessageParseError, ResultError
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, CLINotFoundError):
        return _error(f"Claude Code CLI not found: {exc}", retryable=False, kind="cli_not_found")
    if isinstance(exc, ResultError):
        reason = "; ".join(exc.errors) or exc.result or str(exc)
        return classify_status(exc.api_error_status, f"Claude run failed: {reason}", subtype=exc.subtype)
    if isinstance(exc, ProcessError):
        # The CLI exited non-zero: a crash (retryable) unless its output says why not.
        detail = f"Claude Code CLI exited with code {exc.exit_code}: {exc.stderr or exc}"
        return classify_text(detail, default_retryable=True, default_kind="cli_crash")
    if isinstance(exc, CLIConnectionError):
        return classify_text(f"Claude Code CLI connection failed: {exc}", default_retryable=True,
                             default_kind="cli_connection")
    if isinstance(exc, CLIJSONDecodeError) and "exceeded maximum buffer size" in exc.line:
        # A message (a tool result, an output) too large for the stream: the same prompt
        # would most likely produce it again.
        return _error(f"a message from the Claude Code CLI was too large: {exc.line}; keep tool output and "
                      "answers smaller (write large results to files: they become artifacts)",
                      retryable=False, kind="message_too_large")
    if isinstance(exc, CLIJSONDecodeError | MessageParseError):
        return _error(f"unreadable output from the Claude Code CLI: {exc}", retryable=True, kind="cli_protocol")
    if isinstance(exc, ClaudeSDKError):
        return classify_text(str(exc), default_retryable=True, default_kind="agent_error")
    return None


def _classify_aws(exc: Exception) -> TaskExecutionError | None:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"AWS {exc.operation_name} failed: {code}: {error.get('Message', '')}"
        if code in _AWS_RETRYABLE_CODES or status >= 500 or status == 0:
            return _error(message, retryable=True, kind="aws")
        return _error(message, retryable=False, kind="aws_client_error", details={"code": code})
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return _error(f"AWS credentials missing: {exc}", retryable=False, kind="auth")
    if isinstance(exc, BotoCoreError):  # endpoint unreachable, read timeout, ...
        return _error(f"AWS call failed: {exc}", retryable=True, kind="aws")
    return None


def classify(exc: BaseException) -> TaskExecutionError:
    """Map anything a task raised to a ``TaskExecutionError`` with a redacted message."""
    if isinstance(exc, TaskExecutionError):
        if exc.message == redact(exc.message):
            return exc
        return _error(exc.message, retryable=exc.retryable, kind=exc.kind, details=exc.details)
    if isinstance(exc, NotFound):
        return _error(exc.message, retryable=False, kind="not_found", details=exc.details)
    if isinstance(exc, ValidationFailed):
        return _error(exc.message, retryable=False, kind="invalid", details=exc.details)
    if isinstance(exc, JobManagerError):
        # Our own infrastructure errors (publish/send failed, bucket unset) are
        # operational: another attempt may well succeed.
        return _error(exc.message, retryable=True, kind=exc.code)
    if isinstance(exc, TimeoutError | subprocess.TimeoutExpired):
        return _error(f"timed out: {exc}" if str(exc) else "timed out", retryable=True, kind="timeout")
    if isinstance(exc, Exception):
        for specific in (_classify_sdk, _classify_aws):
            result = specific(exc)
            if result is not None:
                return result
    if isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
        return _error(f"{type(exc).__name__}: {exc}", retryable=False, kind="os")
    if isinstance(exc, MemoryError):
        return _error("out of memory", retryable=True, kind="resource")
    if isinstance(exc, OSError):  # disk full, too many open files, ...: the host's state, not the task's
        return _error(f"{type(exc).__name__}: {exc}", retryable=True, kind="os")
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return _error(f"interrupted ({type(exc).__name__})", retryable=True, kind="interrupted")
    # An unexpected exception is a bug in code or definition: repeating it won't help.
    return _error(f"{type(exc).__name__}: {exc}", retryable=False, kind="error")
