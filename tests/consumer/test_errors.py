"""consumer.errors.classify: one verdict (retryable or not, and a kind) for anything a task raises."""

from __future__ import annotations

import subprocess

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from claude_agent_sdk import CLIConnectionError, CLIJSONDecodeError, CLINotFoundError, ProcessError
from claude_agent_sdk._errors import ResultError

from consumer.errors import MAX_MESSAGE_CHARS, classify
from jobmanager.aws.bus import PublishFailed
from jobmanager.domain.errors import NotFound, TaskExecutionError, ValidationFailed
from jobmanager.domain.templates import MissingPlaceholder


def client_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def result_error(status: int | None = None, subtype: str = "success", result: str = "API Error") -> ResultError:
    data = {"subtype": subtype, "result": result, "is_error": True}
    if status is not None:
        data["api_error_status"] = status
    return ResultError("Claude run failed", data=data, exit_code=1)


RETRYABLE = [
    (result_error(429, result="API Error: 429 rate_limit_error"), "rate_limit"),
    (result_error(529, result="API Error: 529 overloaded_error"), "overloaded"),
    (result_error(500, result="API Error: 500"), "server_error"),
    (result_error(503), "server_error"),
    (ProcessError("Command failed", exit_code=1, stderr="segfault"), "cli_crash"),
    (ProcessError("Command failed", exit_code=1, stderr="Error: 529 {\"type\":\"overloaded_error\"}"), "overloaded"),
    (ProcessError("Command failed", exit_code=1, stderr="ECONNRESET while streaming"), "network"),
    (CLIConnectionError("CLI went away"), "cli_connection"),
    (CLIJSONDecodeError("{not json", ValueError("bad")), "cli_protocol"),
    (TimeoutError(), "timeout"),
    (subprocess.TimeoutExpired(["sleep"], 5), "timeout"),
    (client_error("SlowDown", 503), "aws"),
    (client_error("ThrottlingException", 400, "PutEvents"), "aws"),
    (client_error("InternalError", 500), "aws"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "aws"),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "aws"),
    (PublishFailed("bus down"), "publish_failed"),
    (OSError(28, "No space left on device"), "os"),
    (TaskExecutionError("exit 75", retryable=True, kind="tempfail"), "tempfail"),
]

PERMANENT = [
    (result_error(401, result="Invalid API key"), "auth"),
    (result_error(403), "auth"),
    (result_error(400, result="prompt is too long"), "invalid_request"),
    (result_error(None, subtype="error_max_turns", result=""), "max_turns"),
    (result_error(None, subtype="error_max_budget_usd", result=""), "budget"),
    (ProcessError("Command failed", exit_code=1, stderr="Invalid API key · Please run /login"), "auth"),
    (ProcessError("Command failed", exit_code=1, stderr="Credit balance is too low"), "billing"),
    (ProcessError("Command failed", exit_code=1,
                  stderr="--dangerously-skip-permissions cannot be used with root/sudo privileges"), "config"),
    (CLINotFoundError("Claude Code not found"), "cli_not_found"),
    (MissingPlaceholder("input.topic", "has no value"), "template"),
    (ValidationFailed("bad definition"), "invalid"),
    (NotFound("object jobs/x not found"), "not_found"),
    (client_error("AccessDenied", 403), "aws_client_error"),
    (client_error("NoSuchBucket", 404), "aws_client_error"),
    (NoCredentialsError(), "auth"),
    (FileNotFoundError(2, "No such file", "nope"), "os"),
    (ValueError("a bug"), "error"),
    (TaskExecutionError("exit 3", retryable=False, kind="exit_code"), "exit_code"),
]


@pytest.mark.parametrize(("exc", "kind"), RETRYABLE, ids=[f"{type(e).__name__}-{k}" for e, k in RETRYABLE])
def test_transient_failures_are_retryable(exc, kind):
    error = classify(exc)

    assert isinstance(error, TaskExecutionError)
    assert (error.retryable, error.kind) == (True, kind)


@pytest.mark.parametrize(("exc", "kind"), PERMANENT, ids=[f"{type(e).__name__}-{k}" for e, k in PERMANENT])
def test_permanent_failures_are_not_retryable(exc, kind):
    error = classify(exc)

    assert (error.retryable, error.kind) == (False, kind)


def test_missing_placeholder_keeps_its_name():
    error = classify(MissingPlaceholder("tasks.research.output", "refers to task 'research'"))

    assert "{tasks.research.output}" in error.message
    assert error.details == {"placeholder": "tasks.research.output"}


def test_messages_are_redacted(monkeypatch):
    # Given a secret in the environment and one in an error's text
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-supersecretvalue")
    exc = ProcessError("Command failed", exit_code=1,
                       stderr="request with key sk-ant-api03-supersecretvalue failed; slack xoxb-1234567890-abcdef")

    # When it is classified
    error = classify(exc)

    # Then neither leaves the process
    assert "supersecret" not in error.message
    assert "xoxb-1234567890" not in error.message
    assert "[REDACTED]" in error.message


def test_an_already_classified_error_with_a_secret_is_redacted_too(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token-value")
    error = classify(TaskExecutionError("boom xoxb-secret-token-value", retryable=True, kind="tempfail"))

    assert "xoxb-secret" not in error.message
    assert (error.retryable, error.kind) == (True, "tempfail")


def test_huge_messages_are_truncated():
    error = classify(ValueError("x" * 100_000))

    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert error.message.endswith("[truncated]")


def test_every_aws_client_retries_with_exponential_backoff_and_jitter(aws_stack):
    # One retry helper for every AWS call: botocore's "standard" mode (exponential backoff
    # with full jitter on throttling, 5xx and connection errors), set once in clients.py.
    from jobmanager.aws.clients import client, dynamodb_resource

    for service in ("sqs", "s3", "events", "dynamodb"):
        retries = client(service).meta.config.retries
        assert (retries["mode"], retries["total_max_attempts"]) == ("standard", 6), service  # 1 + 5 retries
    assert dynamodb_resource().meta.client.meta.config.retries["mode"] == "standard"
