"""``agent`` task definitions: one Claude Agent SDK session (the SDK drives the Claude
Code CLI it bundles). The prompt is the definition's tag + its instructions with
``{placeholders}`` filled from the task input and upstream outputs; the role is the
system prompt. SDK hooks around every tool use become progress (tool started/finished,
turn count) and lines of the task's log; the ResultMessage gives the output, cost, usage
and turns. A session that sends nothing for ``inactivity_timeout`` seconds is stuck."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from claude_agent_sdk import AssistantMessage, ClaudeAgentOptions, HookMatcher, ResultMessage, TextBlock, query

from jobmanager.config import get_config
from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.redaction import redact
from jobmanager.domain.templates import build_prompt

from ..credentials import CREDENTIAL_VARS, require_credentials
from ..errors import classify, classify_status, classify_text
from ..task import TaskResult, TaskRun

log = logging.getLogger(__name__)

PASSTHROUGH_VARS = ("ANTHROPIC_BASE_URL", *CREDENTIAL_VARS)
STDERR_LINES = 40
# One line of the CLI's stream-json (a message, a tool result) may not exceed this: the
# SDK would otherwise buffer without bound. The task fails, clearly, and the worker lives.
MAX_MESSAGE_BYTES = 1024 * 1024

Progress = Callable[[dict[str, Any]], None]


def permission_mode(requested: str | None = None) -> str:
    # A headless worker has nobody to answer permission prompts, so by default tools run
    # without asking ("bypassPermissions"); the sandbox is the task's working directory
    # and the child process. A definition may ask for a stricter mode ("dontAsk": only
    # its allowedTools run; "acceptEdits"; "plan"). The CLI refuses bypassPermissions to
    # root unless IS_SANDBOX=1 declares the host disposable; rather than flip that switch
    # for the operator, fall back to "dontAsk": allowedTools still run, nothing else.
    mode = requested or "bypassPermissions"
    if mode == "bypassPermissions" and hasattr(os, "getuid") and os.getuid() == 0 \
            and os.environ.get("IS_SANDBOX") != "1":
        _warn_root()
        return "dontAsk"
    return mode


@functools.cache
def _warn_root() -> None:
    log.warning("running as root without IS_SANDBOX=1: agent tools limited to each definition's allowedTools")


def build_options(run: TaskRun, *, stderr: Callable[[str], None] | None = None,
                  hooks: dict[str, list[HookMatcher]] | None = None) -> ClaudeAgentOptions:
    definition = run.definition
    env = {name: os.environ[name] for name in PASSTHROUGH_VARS if os.environ.get(name)}
    # No auto-update checks or telemetry from a worker, unless the operator says otherwise.
    env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                   os.environ.get("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"))
    return ClaudeAgentOptions(
        model=definition.model or run.default_model or None,
        system_prompt=definition.role or None,
        max_turns=definition.max_turns,
        max_budget_usd=budget_usd(run),
        allowed_tools=list(definition.allowed_tools),
        cwd=str(run.work_dir),
        permission_mode=permission_mode(definition.permission_mode),  # type: ignore[arg-type]
        # Isolation: no ~/.claude or project settings (project settings can run hooks).
        setting_sources=[],
        env=env,
        stderr=stderr,
        hooks=hooks,  # type: ignore[arg-type]
        max_buffer_size=MAX_MESSAGE_BYTES,
        cli_path=get_config().claude_cli_path or None,
    )


def budget_usd(run: TaskRun) -> float | None:
    """The tighter of the definition's maxBudgetUsd and what is left of the job's."""
    limits = [b for b in (run.definition.max_budget_usd, run.budget_usd) if b is not None]
    return min(limits) if limits else None


def run_agent(run: TaskRun, *, on_progress: Progress | None = None, timeout: float | None = None) -> TaskResult:
    require_credentials()
    prompt = build_prompt(run.definition, task_input=run.task_input, upstream=run.upstream)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    with run.transcript_file.open("w", encoding="utf-8") as transcript, \
            run.log_file.open("a", encoding="utf-8") as task_log:
        session = _Session(run, transcript, task_log, on_progress)
        return asyncio.run(session.run(prompt, timeout=timeout, inactivity=run.inactivity_timeout))


class _Session:
    """One SDK session: its messages, hooks, accounting and log."""

    def __init__(self, run: TaskRun, transcript: TextIO, task_log: TextIO, on_progress: Progress | None) -> None:
        self.run_ = run
        self.transcript = transcript
        self.task_log = task_log
        self.on_progress = on_progress
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self.turn_ids: set[str] = set()
        self.tools_started = 0
        self.tools_finished = 0
        self.texts: list[str] = []

    def log(self, text: str) -> None:
        try:
            self.task_log.write(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {redact(text)}\n")
            self.task_log.flush()
        except (OSError, ValueError):  # the log is a convenience, never a failure
            pass

    @property
    def turns(self) -> int:
        return len(self.turn_ids)

    def progress(self, event: str, **data: Any) -> None:
        """Cumulative counters, so that the runner may drop all but the latest (throttling)
        without losing a count."""
        if self.on_progress:
            self.on_progress({"event": event, "turn": self.turns, "toolsStarted": self.tools_started,
                              "toolsFinished": self.tools_finished, **data})

    # SDK hooks: the CLI calls these around every tool use.
    async def pre_tool(self, data: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        self.tools_started += 1
        tool = str(data.get("tool_name", "?"))[:100]
        self.log(f"tool started  {tool} ({tool_use_id})")
        self.progress("tool_started", tool=tool)
        return {}

    async def post_tool(self, data: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        self.tools_finished += 1
        tool = str(data.get("tool_name", "?"))[:100]
        failed = data.get("hook_event_name") == "PostToolUseFailure"
        self.log(f"tool {'failed  ' if failed else 'finished'} {tool} ({tool_use_id})")
        self.progress("tool_failed" if failed else "tool_finished", tool=tool)
        return {}

    def hooks(self) -> dict[str, list[HookMatcher]]:
        return {"PreToolUse": [HookMatcher(hooks=[self.pre_tool])],  # type: ignore[list-item]
                "PostToolUse": [HookMatcher(hooks=[self.post_tool])],  # type: ignore[list-item]
                "PostToolUseFailure": [HookMatcher(hooks=[self.post_tool])]}  # type: ignore[list-item]

    def on_stderr(self, line: str) -> None:
        self.stderr_tail.append(line)

    async def run(self, prompt: str, *, timeout: float | None, inactivity: float | None) -> TaskResult:
        run = self.run_
        options = build_options(run, stderr=self.on_stderr, hooks=self.hooks())
        self.log(f"session start request={run.request_id} job={run.job_id} task={run.task_id} attempt={run.attempt} "
                 f"model={options.model} maxTurns={options.max_turns} budgetUsd={options.max_budget_usd} "
                 f"permissionMode={options.permission_mode} prompt={len(prompt)} chars")
        result: ResultMessage | None = None
        model = options.model
        failure: BaseException | None = None
        unknown = _UnknownMessages(self.log)
        try:
            with unknown:
                async with asyncio.timeout(timeout):
                    messages = aiter(query(prompt=prompt, options=options))
                    while True:
                        try:
                            async with asyncio.timeout(inactivity):
                                message = await anext(messages)
                        except StopAsyncIteration:
                            break
                        except TimeoutError:
                            await messages.aclose()  # ends the CLI; the worker kills what is left
                            raise _inactive(inactivity) from None
                        _record(self.transcript, message)
                        if isinstance(message, AssistantMessage):
                            model = message.model or model
                            # The CLI may split one API turn into several messages.
                            turn_id = message.message_id or str(id(message))
                            new_turn = turn_id not in self.turn_ids
                            self.turn_ids.add(turn_id)
                            self.texts.extend(b.text for b in message.content if isinstance(b, TextBlock))
                            if new_turn:
                                self.progress("turn")
                        elif isinstance(message, ResultMessage):
                            result = message
        except Exception as exc:  # classified below, with the CLI's stderr when it helps
            failure = exc
        if result is not None and result.is_error:
            reason = result.result or "; ".join(result.errors or []) or result.subtype
            error = classify_status(result.api_error_status, f"Claude run failed ({result.subtype}): {reason}",
                                    subtype=result.subtype)
            self.log(f"session failed ({error.kind}, retryable={error.retryable}): {error.message}")
            raise error
        if failure is not None:
            error = classify(failure)
            if self.stderr_tail and error.kind != "inactivity":
                text = f"{error.message}; CLI stderr: {' | '.join(self.stderr_tail)}"
                error = classify_text(text, default_retryable=error.retryable, default_kind=error.kind)
            self.log(f"session failed ({error.kind}, retryable={error.retryable}): {error.message}")
            raise error from failure
        if result is None:
            self.log("session ended without a result")
            raise TaskExecutionError("the Claude Code CLI ended without a result", retryable=True, kind="cli_crash")
        self.log(f"session done turns={result.num_turns} costUsd={result.total_cost_usd} "
                 f"durationMs={result.duration_ms} usage={_token_usage(result.usage)}")
        return TaskResult(
            output=result.result if result.result is not None else "\n".join(self.texts),
            cost_usd=result.total_cost_usd,
            usage=_token_usage(result.usage),
            num_turns=result.num_turns,
            model=model,
            agent_duration_ms=result.duration_ms,
        )


def _inactive(seconds: float | None) -> TaskExecutionError:
    return TaskExecutionError(
        f"the Claude session sent nothing for {seconds:g} s (CLAUDE_INACTIVITY_TIMEOUT): stopped as stuck",
        retryable=True, kind="inactivity")


class _UnknownMessages(logging.Handler):
    """The SDK skips message types it doesn't know (a newer CLI) with a debug line: kept
    in the task's log instead of lost, and never fatal."""

    def __init__(self, log_line: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.log_line = log_line
        self.logger = logging.getLogger("claude_agent_sdk._internal.message_parser")
        self.level_before = self.logger.level

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Skipping unknown message type"):
            self.log_line(f"ignored: {record.getMessage()[9:]}")

    def __enter__(self) -> _UnknownMessages:
        self.logger.addHandler(self)
        if self.logger.getEffectiveLevel() > logging.DEBUG:
            self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)


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
