"""The command executor, in-process: argv templates, environment, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from consumer.executors.command import run_command
from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.templates import MissingPlaceholder


def py(code: str) -> tuple[str, ...]:
    return ("python", "-c", code)


def test_stdout_is_the_output_and_argv_elements_are_rendered_without_a_shell(make_run):
    # Given an argv whose elements hold placeholders (and shell syntax that must stay inert)
    run = make_run(
        command=("python", "-c", "import sys; print('|'.join(sys.argv[1:]))", "{input.topic}", "{tasks.up.output}",
                 "$(echo injected); rm -rf /"),
        task_input={"topic": "otters & beavers"},
        upstream={"up": "upstream says hi"},
    )

    # When it runs
    result = run_command(run)

    # Then each element was rendered once and passed as one argument
    assert result.output == "otters & beavers|upstream says hi|$(echo injected); rm -rf /\n"
    assert result.exit_code == 0


def test_python_means_the_workers_interpreter_and_runs_in_the_working_dir(make_run):
    run = make_run(command=py("import os, sys; print(sys.executable); print(os.getcwd())"))

    result = run_command(run)

    executable, cwd = result.output.splitlines()
    assert Path(executable).parent == Path(sys.executable).parent
    assert Path(cwd) == run.work_dir


def test_the_projects_modules_are_importable_from_the_working_dir(make_run):
    run = make_run(command=py("import consumer.task as t, pathlib; print(pathlib.Path(t.__file__).parent.name)"))

    assert run_command(run).output == "consumer\n"


def test_environment_has_the_task_ids_and_context_but_no_secrets_or_worker_config(make_run, monkeypatch):
    # Given secrets in the worker's environment
    secrets = {
        "ANTHROPIC_API_KEY": "sk-ant-api03-abcdefghijkl", "CLAUDE_CODE_OAUTH_TOKEN": "oauth-secret-1",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-1", "AWS_SESSION_TOKEN": "aws-session-1",
        "SLACK_BOT_TOKEN": "xoxb-1-2-3-secret", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
        "DJANGO_SECRET_KEY": "django-secret-1",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    # ... and the worker's own configuration, which is no business of user code either
    config = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "EVENTS_TABLE": "events-x", "SQS_QUEUE_URL": "https://q",
              "DATABASE_URL": "postgres://u:p@h/db", "SOME_UNLISTED_TOKEN": "t0k3n-value"}
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    run = make_run(command=py("import json, os; print(json.dumps(dict(os.environ)))"),
                   task_input={"n": 3}, upstream={"up": "text"}, attempt=2)

    # When the command dumps its environment
    env = json.loads(run_command(run).output)

    # Then no secret is there, the ids are, and the context file holds input + upstream
    assert not set(secrets) & set(env)
    assert not set(config) & set(env)
    assert env["LANG"] == "C.UTF-8" and env["PATH"] and env["PYTHONPATH"]
    assert (env["JOB_ID"], env["TASK_ID"], env["ATTEMPT"]) == ("job-1", "task-a", "2")
    context = Path(env["JOBMANAGER_CONTEXT"])
    assert json.loads(context.read_text()) == {"input": {"n": 3}, "upstream": {"up": "text"}}
    # ... outside the working directory, so it isn't uploaded as an artifact
    assert run.work_dir not in context.parents


def test_files_written_stay_in_the_working_dir(make_run):
    run = make_run(command=py("open('report.md', 'w').write('# hi'); print('done')"))

    run_command(run)

    assert (run.work_dir / "report.md").read_text() == "# hi"
    assert [p.name for p in run.work_dir.iterdir()] == ["report.md"]


def test_exit_75_is_a_retryable_failure(make_run):
    run = make_run(command=py("import sys; sys.stderr.write('database busy'); sys.exit(75)"))

    with pytest.raises(TaskExecutionError) as caught:
        run_command(run)

    assert caught.value.retryable is True
    assert caught.value.kind == "tempfail"
    assert "database busy" in caught.value.message


def test_other_exit_codes_fail_for_good_with_the_code_and_redacted_stderr_tail(make_run, monkeypatch):
    # Given a command that leaks a secret on stderr before failing
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-9999-secret-token")
    noise = "x" * 5000
    run = make_run(command=py(
        f"import sys; sys.stderr.write('{noise}\\n'); sys.stderr.write('token=xoxb-9999-secret-token\\n');"
        " sys.stderr.write('fatal: no input\\n'); sys.exit(3)"))

    # When it runs
    with pytest.raises(TaskExecutionError) as caught:
        run_command(run)

    # Then the error names the exit code, ends with stderr's tail, and hides the token
    error = caught.value
    assert (error.retryable, error.kind, error.details) == (False, "exit_code", {"exitCode": 3})
    assert "exited with code 3" in error.message
    assert "fatal: no input" in error.message
    assert "xoxb-9999" not in error.message
    assert len(error.message) < 2500


def test_a_missing_placeholder_is_a_permanent_error_naming_it(make_run):
    run = make_run(command=("echo", "{input.missing}"), task_input={"other": 1})

    with pytest.raises(MissingPlaceholder) as caught:
        run_command(run)

    assert caught.value.retryable is False
    assert "{input.missing}" in caught.value.message


def test_an_unknown_program_is_a_permanent_error(make_run):
    run = make_run(command=("no-such-program-xyz", "arg"))

    with pytest.raises(TaskExecutionError) as caught:
        run_command(run)

    assert (caught.value.retryable, caught.value.kind) == (False, "command_not_found")
    assert "no-such-program-xyz" in caught.value.message


def test_a_definition_without_a_command_is_a_permanent_error(make_run):
    with pytest.raises(TaskExecutionError) as caught:
        run_command(make_run(command=()))

    assert (caught.value.retryable, caught.value.kind) == (False, "definition")


def test_an_argument_too_long_for_the_os_is_a_permanent_error_that_says_what_to_do(make_run):
    run = make_run(command=("echo", "{input.big}"), task_input={"big": "x" * 200_000})

    with pytest.raises(TaskExecutionError) as caught:
        run_command(run)

    assert (caught.value.retryable, caught.value.kind) == (False, "argv_too_long")
    assert "200000 bytes" in caught.value.message and "$JOBMANAGER_CONTEXT" in caught.value.message
