"""The agent executor with the REAL Claude Code CLI (bundled with claude-agent-sdk),
driven by the real SDK, against a fake Anthropic Messages API on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import pytest

from consumer.executors import agent
from consumer.executors.agent import run_agent
from jobmanager.domain.templates import MAX_PROMPT_CHARS, build_prompt
from jobmanager.config import get_config
from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.model import DefinitionKind, TaskDefinition
from jobmanager.domain.templates import MissingPlaceholder
from tests.fakes import claude_cli
from tests.fakes.anthropic_api import FakeAnthropicAPI, error, text, tool_use

FAKE_KEY = "sk-ant-api03-fake-test-key-000000"

WRITER = TaskDefinition(
    name="writer",
    kind=DefinitionKind.AGENT,
    role="You are a meticulous technical writer.",
    tag="[writer]",
    instructions="Write a summary about {input.topic} using these notes: {tasks.research.output}",
    model="claude-sonnet-4-5",
    max_turns=4,
    allowed_tools=("Write",),
)


@pytest.fixture
def claude_env(monkeypatch, tmp_path):
    """Credentials + the fake API; the CLI's own state kept out of the real home."""

    def point_at(api: FakeAnthropicAPI) -> None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
        monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
        monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")

    return point_at


def test_agent_run_sends_the_rendered_prompt_runs_tools_and_reports_cost(make_run, claude_env):
    run = make_run(WRITER, task_input={"topic": "otters"}, upstream={"research": "otters hold hands while asleep"})
    turns = [
        tool_use("Write", {"file_path": str(run.work_dir / "summary.md"), "content": "# Otters\nThey hold hands.\n"}),
        text("Summary written to summary.md", input_tokens=300, output_tokens=40),
    ]
    with FakeAnthropicAPI(turns) as api:
        claude_env(api)

        # When the agent task runs
        result = run_agent(run, timeout=60)

    # Then the prompt carried the tag, the rendered input and the upstream output,
    conversation = api.conversation
    assert len(conversation) == 2
    first = conversation[0]
    prompt = "\n".join(first.user_texts())
    assert "[writer]" in prompt
    assert "Write a summary about otters using these notes: otters hold hands while asleep" in prompt
    # the role became the system prompt, and the definition's model was used,
    assert "You are a meticulous technical writer." in first.system_text()
    assert first.body["model"] == "claude-sonnet-4-5"
    assert first.headers.get("x-api-key") == FAKE_KEY
    # the Write tool call really wrote into the working directory,
    assert (run.work_dir / "summary.md").read_text() == "# Otters\nThey hold hands.\n"
    # and the result came back with the CLI's accounting.
    assert result.output == "Summary written to summary.md"
    assert result.num_turns == 2
    assert result.cost_usd and result.cost_usd > 0
    assert result.usage["input_tokens"] > 0 and result.usage["output_tokens"] > 0
    assert result.model == "claude-sonnet-4-5"
    # A transcript of the session was kept beside (not inside) the working directory
    lines = [json.loads(line) for line in run.transcript_file.read_text().splitlines()]
    assert lines[-1]["type"] == "ResultMessage"


def test_progress_is_reported_for_tool_turns_in_bypass_mode(make_run, claude_env, monkeypatch):
    # IS_SANDBOX=1 lets the CLI take bypassPermissions even as root (the production default)
    monkeypatch.setenv("IS_SANDBOX", "1")
    assert agent.permission_mode() == "bypassPermissions"
    run = make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"})
    progress: list[dict] = []
    with FakeAnthropicAPI([tool_use("Write", {"file_path": str(run.work_dir / "a.txt"), "content": "a"}),
                           text("done")]) as api:
        claude_env(api)
        run_agent(run, on_progress=progress.append, timeout=60)

    # Then the SDK's tool hooks and the turns became cumulative progress, in order
    assert progress == [
        {"event": "turn", "turn": 1, "toolsStarted": 0, "toolsFinished": 0},
        {"event": "tool_started", "tool": "Write", "turn": 1, "toolsStarted": 1, "toolsFinished": 0},
        {"event": "tool_finished", "tool": "Write", "turn": 1, "toolsStarted": 1, "toolsFinished": 1},
        {"event": "turn", "turn": 2, "toolsStarted": 1, "toolsFinished": 1},
    ]
    assert (run.work_dir / "a.txt").read_text() == "a"
    # ... and the attempt's log tells the same story, with the request id and the result
    log = run.log_file.read_text()
    assert f"session start request={run.request_id}" in log
    assert "tool started  Write" in log and "tool finished Write" in log
    assert "session done turns=2 costUsd=" in log


def test_missing_credentials_fail_at_once_without_retry(make_run, monkeypatch):
    # Given no credentials at all
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    run = make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"})
    with FakeAnthropicAPI([text("never")]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)

        # When the agent task runs
        with pytest.raises(TaskExecutionError) as caught:
            run_agent(run)

    # Then it fails immediately, permanently, saying what to set — and calls nobody
    assert (caught.value.retryable, caught.value.kind) == (False, "auth")
    assert "ANTHROPIC_API_KEY" in caught.value.message and "CLAUDE_CODE_OAUTH_TOKEN" in caught.value.message
    assert api.requests == []


def test_a_missing_placeholder_fails_permanently_naming_it(make_run, claude_env):
    run = make_run(WRITER, task_input={"subject": "wrong key"}, upstream={"research": "r"})
    with FakeAnthropicAPI([text("never")]) as api:
        claude_env(api)
        with pytest.raises(MissingPlaceholder) as caught:
            run_agent(run)

    assert caught.value.retryable is False
    assert "{input.topic}" in caught.value.message
    assert api.requests == []


def test_an_oversized_prompt_is_refused_before_any_session():
    with pytest.raises(TaskExecutionError) as caught:
        build_prompt(WRITER, task_input={"topic": "t"}, upstream={"research": "x" * MAX_PROMPT_CHARS})

    assert (caught.value.retryable, caught.value.kind) == (False, "prompt_too_large")
    assert f"over the {MAX_PROMPT_CHARS}-character limit" in caught.value.message


def test_an_upstream_that_is_not_a_dependency_is_named_too():
    with pytest.raises(MissingPlaceholder) as caught:
        build_prompt(WRITER, task_input={"topic": "t"}, upstream={})

    assert "{tasks.research.output}" in caught.value.message


def test_an_authentication_error_from_the_api_is_permanent(make_run, claude_env):
    run = make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"})
    with FakeAnthropicAPI([error(401, "authentication_error", "invalid x-api-key")] * 3) as api:
        claude_env(api)
        with pytest.raises(TaskExecutionError) as caught:
            run_agent(run, timeout=60)

    assert (caught.value.retryable, caught.value.kind) == (False, "auth")
    assert FAKE_KEY not in caught.value.message


def test_an_overloaded_api_is_retryable(make_run, claude_env):
    run = make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"})
    with FakeAnthropicAPI([error(529, "overloaded_error", "Overloaded")] * 5) as api:
        claude_env(api)
        with pytest.raises(TaskExecutionError) as caught:
            run_agent(run, timeout=60)

    assert caught.value.retryable is True
    assert caught.value.kind in ("overloaded", "server_error")


def test_headless_permission_mode(monkeypatch):
    # bypassPermissions, except as root without IS_SANDBOX=1 (the CLI refuses it there)
    monkeypatch.setattr(agent.os, "getuid", lambda: 1000)
    assert agent.permission_mode() == "bypassPermissions"
    monkeypatch.setattr(agent.os, "getuid", lambda: 0)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    assert agent.permission_mode() == "dontAsk"
    monkeypatch.setenv("IS_SANDBOX", "1")
    assert agent.permission_mode() == "bypassPermissions"


def test_options_carry_the_definition(make_run, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    run = make_run(TaskDefinition(name="d", kind=DefinitionKind.AGENT, instructions="hi", max_turns=7,
                                  allowed_tools=("Read", "Grep")))

    options = agent.build_options(run)

    assert options.model == "claude-sonnet-4-5"  # the worker's default (CLAUDE_MODEL)
    assert options.max_turns == 7
    assert options.allowed_tools == ["Read", "Grep"]
    assert options.cwd == str(run.work_dir)
    assert options.setting_sources == []
    assert options.env["ANTHROPIC_API_KEY"] == FAKE_KEY
    assert options.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"


def test_options_carry_budget_permission_mode_and_hooks(make_run, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    definition = TaskDefinition(name="d", kind=DefinitionKind.AGENT, instructions="hi", max_budget_usd=0.5,
                                permission_mode="plan")
    run = dataclasses.replace(make_run(definition), budget_usd=0.2)

    options = agent.build_options(run, hooks={"PreToolUse": []})

    assert options.max_budget_usd == 0.2  # the job's remaining budget is the tighter one
    assert agent.budget_usd(dataclasses.replace(run, budget_usd=None)) == 0.5
    assert options.permission_mode == "plan"
    assert options.hooks == {"PreToolUse": []}
    assert options.max_buffer_size == agent.MAX_MESSAGE_BYTES


def test_a_definitions_budget_stops_the_session_for_good(make_run, claude_env):
    # Given a definition allowed to spend almost nothing, and an agent that would go on using tools
    definition = dataclasses.replace(WRITER, max_budget_usd=0.0001)
    run = make_run(definition, task_input={"topic": "t"}, upstream={"research": "r"})
    turns = [tool_use("Write", {"file_path": str(run.work_dir / f"{n}.txt"), "content": "x"}) for n in range(3)]
    with FakeAnthropicAPI([*turns, text("done")]) as api:
        claude_env(api)

        # When it runs
        with pytest.raises(TaskExecutionError) as caught:
            run_agent(run, timeout=60)

    # Then the CLI stopped it at the budget: a permanent failure that says so
    assert (caught.value.retryable, caught.value.kind) == (False, "budget")
    assert "budget" in caught.value.message
    assert len(api.conversation) < 4


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    """``fake_cli(mode)``: the worker's CLAUDE_CLI_PATH is tests/fakes/claude_cli.py in that mode."""
    path = claude_cli.install(tmp_path / "fake-claude")

    def use(mode: str, **env: str) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
        monkeypatch.setenv("CLAUDE_CLI_PATH", str(path))
        monkeypatch.setenv("FAKE_CLI_MODE", mode)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_config.cache_clear()

    yield use
    get_config.cache_clear()


def test_an_unknown_message_type_is_logged_and_tolerated(make_run, fake_cli):
    fake_cli("ok")
    run = make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"})

    result = run_agent(run, timeout=60)

    assert (result.output, result.cost_usd, result.num_turns) == ("fake answer", 0.0042, 1)
    assert "ignored: unknown message type: brand_new_kind_of_message" in run.log_file.read_text()


def test_a_session_that_goes_quiet_hits_the_inactivity_timeout(make_run, fake_cli, tmp_path, request):
    pidfile = tmp_path / "sleeper.pid"
    fake_cli("hang", FAKE_CLI_PIDFILE=str(pidfile))
    request.addfinalizer(lambda: pidfile.exists() and os.kill(int(pidfile.read_text()), signal.SIGKILL))
    run = dataclasses.replace(make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"}),
                              inactivity_timeout=1.5)

    with pytest.raises(TaskExecutionError) as caught:
        run_agent(run, timeout=60)  # the overall timeout is far away

    assert (caught.value.retryable, caught.value.kind) == (True, "inactivity")
    assert "sent nothing for 1.5 s (CLAUDE_INACTIVITY_TIMEOUT)" in caught.value.message


@pytest.mark.parametrize(("mode", "kind", "retryable", "fragments"), [
    ("crash", "cli_crash", True, ["exited with code 3", "segmentation fault"]),
    ("huge", "message_too_large", False, ["too large", f"{agent.MAX_MESSAGE_BYTES} bytes", "artifacts"]),
    ("garbled", "cli_protocol", True, ["unreadable output from the Claude Code CLI"]),
])
def test_cli_failures_are_classified_with_a_clear_reason(make_run, fake_cli, mode, kind, retryable, fragments):
    fake_cli(mode)
    run = make_run(WRITER, task_input={"topic": "t"}, upstream={"research": "r"})

    with pytest.raises(TaskExecutionError) as caught:
        run_agent(run, timeout=60)

    assert (caught.value.kind, caught.value.retryable) == (kind, retryable), caught.value.message
    for fragment in fragments:
        assert fragment in caught.value.message
    assert len(caught.value.message) < 5000  # not the 2 MB line
    assert f"session failed ({kind}" in run.log_file.read_text()
