"""``agent`` task definitions: one Claude Agent SDK session (the SDK drives the Claude
Code CLI it bundles). The prompt is the definition's tag + its instructions with
``{placeholders}`` filled from the task input and upstream outputs; the role is the
system prompt. The ResultMessage gives the output, cost, usage and turns."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from claude_agent_sdk import AssistantMessage, ClaudeAgentOptions, ResultMessage, TextBlock, ToolUseBlock, query

from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.model import TaskDefinition
from jobmanager.domain.templates import build_prompt

from ..errors import classify, classify_status, classify_text
from ..task import TaskResult, TaskRun

log = logging.getLogger(__name__)

CREDENTIAL_VARS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
PASSTHROUGH_VARS = ("ANTHROPIC_BASE_URL", *CREDENTIAL_VARS)
STDERR_LINES = 40

Progress = Callable[[dict[str, Any]], None]


def require_credentials() -> None:
    if not any(os.environ.get(name) for name in CREDENTIAL_VARS):
        raise TaskExecutionError(
            "no Claude credentials: set ANTHROPIC_API_KEY (an API key) or CLAUDE_CODE_OAUTH_TOKEN "
            "(from `claude setup-token`) in the worker's environment",
            retryable=False, kind="auth",
        )


def permission_mode() -> str:
    # A headless worker has nobody to answer permission prompts, so tools run without
    # asking ("bypassPermissions"); the sandbox is the task's working directory and the
    # child process. The CLI refuses that mode to root unless IS_SANDBOX=1 declares the
    # host disposable; rather than flip that switch for the operator, fall back to
    # "dontAsk": the definition's allowedTools still run, anything else is denied.
    if hasattr(os, "getuid") and os.getuid() == 0 and os.environ.get("IS_SANDBOX") != "1":
        _warn_root()
        return "dontAsk"
    return "bypassPermissions"


@functools.cache
def _warn_root() -> None:
    log.warning("running as root without IS_SANDBOX=1: agent tools limited to each definition's allowedTools")


def build_options(run: TaskRun, *, stderr: Callable[[str], None] | None = None) -> ClaudeAgentOptions:
    definition = run.definition
    env = {name: os.environ[name] for name in PASSTHROUGH_VARS if os.environ.get(name)}
    # No auto-update checks or telemetry from a worker, unless the operator says otherwise.
    env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                   os.environ.get("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"))
    return ClaudeAgentOptions(
        model=definition.model or run.default_model or None,
        system_prompt=definition.role or None,
        max_turns=definition.max_turns,
        allowed_tools=list(definition.allowed_tools),
        cwd=str(run.work_dir),
        permission_mode=permission_mode(),  # type: ignore[arg-type]
        # Isolation: no ~/.claude or project settings (project settings can run hooks).
        setting_sources=[],
        env=env,
        stderr=stderr,
    )


def run_agent(run: TaskRun, *, on_progress: Progress | None = None, timeout: float | None = None) -> TaskResult:
    require_credentials()
    prompt = build_prompt(run.definition, task_input=run.task_input, upstream=run.upstream)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
    options = build_options(run, stderr=stderr_tail.append)
    with run.transcript_file.open("w", encoding="utf-8") as transcript:
        return asyncio.run(_session(prompt, options, transcript, stderr_tail, on_progress, timeout))


async def _session(
    prompt: str,
    options: ClaudeAgentOptions,
    transcript: TextIO,
    stderr_tail: deque[str],
    on_progress: Progress | None,
    timeout: float | None,
) -> TaskResult:
    result: ResultMessage | None = None
    model = options.model
    texts: list[str] = []
    turns = 0
    failure: BaseException | None = None
    try:
        async with asyncio.timeout(timeout):
            async for message in query(prompt=prompt, options=options):
                _record(transcript, message)
                if isinstance(message, AssistantMessage):
                    model = message.model or model
                    turns += 1
                    texts.extend(b.text for b in message.content if isinstance(b, TextBlock))
                    tools = [b.name for b in message.content if isinstance(b, ToolUseBlock)]
                    if on_progress and tools:
                        on_progress({"turn": turns, "tools": tools})
                elif isinstance(message, ResultMessage):
                    result = message
    except Exception as exc:  # classified below, with the CLI's stderr when it helps
        failure = exc
    if result is not None and result.is_error:
        reason = result.result or "; ".join(result.errors or []) or result.subtype
        raise classify_status(result.api_error_status, f"Claude run failed ({result.subtype}): {reason}",
                              subtype=result.subtype)
    if failure is not None:
        error = classify(failure)
        if stderr_tail:
            text = f"{error.message}; CLI stderr: {' | '.join(stderr_tail)}"
            error = classify_text(text, default_retryable=error.retryable, default_kind=error.kind)
        raise error from failure
    if result is None:
        raise TaskExecutionError("the Claude Code CLI ended without a result", retryable=True, kind="cli_crash")
    return TaskResult(
        output=result.result if result.result is not None else "\n".join(texts),
        cost_usd=result.total_cost_usd,
        usage=_token_usage(result.usage),
        num_turns=result.num_turns,
        model=model,
        agent_duration_ms=result.duration_ms,
    )


def _token_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """The token counts only: the CLI's usage also carries nested, version-specific
    detail that would bloat every event and projection."""
    return {k: v for k, v in (usage or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _record(transcript: TextIO, message: Any) -> None:
    try:
        is_instance = dataclasses.is_dataclass(message) and not isinstance(message, type)
        body = dataclasses.asdict(message) if is_instance else {"value": repr(message)}
        transcript.write(json.dumps({"type": type(message).__name__, **body}, default=str) + "\n")
    except (TypeError, ValueError, OSError):  # the transcript is a convenience, never a failure
        pass
