"""The REAL worker (``manage.py run_worker``) as a subprocess, against the emulated
stack: messages in, events and S3 objects out. Each test uses its own task queue
(``--queue-url``) so what one leaves behind can't reach another."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from jobmanager.aws import artifacts, queue
from jobmanager.aws.clients import client
from jobmanager.domain.ids import new_ulid
from jobmanager.domain.model import DefinitionKind
from tests.fakes import claude_cli
from tests.fakes.anthropic_api import FakeAnthropicAPI, error, text, tool_use

from .harness import TENANT, WorkerProcess, alive, define, events_for, new_stack, queue_counts, run_burst, send


@pytest.fixture
def stack(aws_stack, tmp_path):
    return new_stack(tmp_path)


WRITE_AND_PRINT = (
    "import os, sys, time; time.sleep(1.2); os.makedirs('out', exist_ok=True);"
    " open('out/result.txt', 'w').write('result for ' + sys.argv[1]);"
    " print('topic=' + sys.argv[1] + ' upstream=' + sys.argv[2] + ' attempt=' + os.environ['ATTEMPT'])"
)


def test_a_command_task_completes_with_output_artifacts_and_heartbeats(stack):
    # Given a command definition and a message for it with an upstream output
    name = define("cmd-success", command=("python", "-c", WRITE_AND_PRINT, "{input.topic}", "{tasks.up.output}"))
    body = send(stack, name, task_input={"topic": "otters"}, upstream={"up": {"output": "notes"}})

    # When a burst worker runs
    worker = run_burst(stack)

    # Then Task Started came first, heartbeats while it ran, then Task Completed with the output
    events = events_for(stack, body)
    types = [e["eventType"] for e in events]
    assert types[0] == "Task Started" and types[-1] == "Task Completed", types
    assert types.count("Task Heartbeat") >= 2, types
    started, completed = events[0], events[-1]
    assert started["source"] == "worker" and started["attempt"] == 1
    assert started["requestId"] == body["requestId"] and started["tenantId"] == TENANT
    expected = {"workerId": "worker-under-test", "taskDefinition": name, "kind": "command", "timeoutSeconds": 120}
    assert started["data"].items() >= expected.items()
    data = completed["data"]
    assert data["output"] == "topic=otters upstream=notes attempt=1\n"
    assert data["outputSize"] == len(data["output"])
    assert data["exitCode"] == 0
    assert data["workerId"] == "worker-under-test"
    assert 1000 <= data["durationMs"] < 30_000
    # ... and the file it left in its working dir is in S3 under the artifact key
    [artifact] = data["artifacts"]
    assert artifact["name"] == "out/result.txt"
    assert artifact["key"] == artifacts.artifact_key(body["jobId"], "a", 1, "out/result.txt")
    assert artifact["size"] == len("result for otters")
    assert artifacts.get_text(artifact) == "result for otters"
    # ... the message is gone, and the worker logged the start and the finish
    assert queue_counts(stack) == (0, 0)
    assert f"task started   job={body['jobId']} task=a attempt=1" in worker.output
    assert f"task completed job={body['jobId']} task=a attempt=1" in worker.output


def test_pointers_are_resolved_and_a_large_output_goes_to_s3(stack):
    # Given an input and an upstream output stored in S3, and a small inline limit
    job_id = new_ulid()
    input_ref = artifacts.put_json(f"jobs/{job_id}/inputs/a.json", {"n": 3})
    upstream_ref = artifacts.put_text(f"jobs/{job_id}/outputs/up.txt", "U" * 50)
    name = define("cmd-big", command=("python", "-c", "import sys; print(sys.argv[1] * int(sys.argv[2]))",
                                      "{tasks.up.output}", "{input.n}"))
    body = send(stack, name, job_id=job_id, inputRef=input_ref, upstream={"up": {"outputRef": upstream_ref}})
    env = {**stack["env"], "INLINE_OUTPUT_LIMIT": "100"}

    # When it runs
    run_burst(stack, env=env)

    # Then the output (151 bytes) was stored in S3 and the event carries the pointer and size
    data = events_for(stack, body)[-1]["data"]
    assert "output" not in data
    assert data["outputSize"] == 151
    assert artifacts.get_text(data["outputRef"]) == "U" * 150 + "\n"


def test_a_non_retryable_failure_is_reported_and_the_message_deleted(stack):
    # Given a command that fails with exit code 3, and a message naming no known definition
    name = define("cmd-exit-3", command=("python", "-c", "import sys; sys.stderr.write('bad input'); sys.exit(3)"))
    failing = send(stack, name)
    unknown = send(stack, "no-such-definition")

    # When a worker runs
    run_burst(stack)

    # Then each got a terminal Task Failed with a classified error, and both messages are gone
    failed = [e for e in events_for(stack, failing) if e["eventType"] != "Task Heartbeat"]
    assert [e["eventType"] for e in failed] == ["Task Started", "Task Failed"]
    data = failed[-1]["data"]
    assert data["willRetry"] is False
    assert data["error"]["retryable"] is False and data["error"]["kind"] == "exit_code"
    assert "exited with code 3" in data["error"]["message"] and "bad input" in data["error"]["message"]
    assert data["exitCode"] == 3
    [unknown_failed] = events_for(stack, unknown)
    assert unknown_failed["eventType"] == "Task Failed"
    assert unknown_failed["data"]["error"]["kind"] == "definition"
    assert "no-such-definition" in unknown_failed["data"]["error"]["message"]
    assert unknown_failed["data"]["willRetry"] is False
    assert queue_counts(stack) == (0, 0)


def test_a_retryable_failure_is_redelivered_as_the_next_attempt(stack):
    # Given a command that records its attempt and exits 75 (EX_TEMPFAIL)
    log = stack["tmp"] / "attempts.log"
    name = define("cmd-tempfail", max_attempts=3, command=(
        "python", "-c", "import os, sys; open(sys.argv[1], 'a').write(os.environ['ATTEMPT'] + '\\n'); sys.exit(75)",
        "{input.log}"))
    body = send(stack, name, task_input={"log": str(log)})

    # When a worker runs with no backoff (so the redeliveries come at once)
    run_burst(stack, "--retry-backoff", "0")

    # Then SQS redelivered it as attempts 2 and 3, and the third failure was final
    failures = [e for e in events_for(stack, body) if e["eventType"] == "Task Failed"]
    assert [(e["attempt"], e["data"]["willRetry"]) for e in failures] == [(1, True), (2, True), (3, False)]
    assert all(e["data"]["error"] == failures[0]["data"]["error"] for e in failures)
    assert failures[0]["data"]["error"]["kind"] == "tempfail" and failures[0]["data"]["error"]["retryable"]
    assert "retryInSeconds" in failures[0]["data"] and "retryInSeconds" not in failures[-1]["data"]
    assert log.read_text().split() == ["1", "2", "3"]
    assert queue_counts(stack) == (0, 0)


def test_a_timeout_kills_the_whole_process_group(stack):
    # Given a command that starts a grandchild and then hangs, with a 2 s timeout
    pid_file = stack["tmp"] / "grandchild.pid"
    name = define("cmd-hang", timeout_seconds=2, max_attempts=1, command=(
        "python", "-c",
        "import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']);"
        " open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(300)",
        "{input.pid_file}"))
    body = send(stack, name, task_input={"pid_file": str(pid_file)})

    # When a worker runs it
    started = time.monotonic()
    run_burst(stack)

    # Then it failed with a timeout within seconds, and the grandchild died with it
    assert time.monotonic() - started < 30
    failed = events_for(stack, body)[-1]
    assert failed["eventType"] == "Task Failed"
    assert failed["data"]["error"]["kind"] == "timeout" and failed["data"]["error"]["retryable"] is True
    assert failed["data"]["willRetry"] is False  # maxAttempts 1
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild)


def test_sigterm_lets_the_running_task_finish_and_takes_no_new_one(stack):
    # Given two slow tasks and a worker with one slot
    name = define("cmd-slow", command=("python", "-c", "import time; time.sleep(2); print('finished')"))
    first, second = send(stack, name, task_id="first"), send(stack, name, task_id="second")
    worker = WorkerProcess(stack["env"], "--concurrency", "1", "--queue-url", stack["queue_url"])

    # When SIGTERM arrives while the first task runs
    worker.wait_for_line("task started")
    worker.process.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=60)

    # Then the worker exits cleanly after that task completed, and the other task never started
    assert code == 0, worker.output
    outcomes = [e for e in events_for(stack, first) + events_for(stack, second) if e["eventType"] != "Task Heartbeat"]
    assert sorted(e["eventType"] for e in outcomes) == ["Task Completed", "Task Started"]
    assert outcomes[-1]["data"]["output"] == "finished\n"
    assert "warm shutdown" in worker.output
    assert queue_counts(stack)[0] + queue_counts(stack)[1] == 1  # the untouched one is still queued


def test_a_second_signal_kills_running_tasks_and_settles_nothing(stack):
    pid_file = stack["tmp"] / "grandchild.pid"
    name = define("cmd-forever", command=(
        "python", "-c",
        "import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']);"
        " open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(300)",
        "{input.pid_file}"))
    body = send(stack, name, task_input={"pid_file": str(pid_file)})
    worker = WorkerProcess(stack["env"], "--queue-url", stack["queue_url"])
    worker.wait_for_line("task started")
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    # When SIGTERM comes twice
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for_line("warm shutdown")
    worker.process.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=15)

    # Then it exits at once, the task's processes are gone, and its message is left for redelivery
    assert code == 128 + signal.SIGTERM, worker.output
    assert {e["eventType"] for e in events_for(stack, body)} == {"Task Started", "Task Heartbeat"}
    assert queue_counts(stack) == (0, 1)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild)


def test_a_duplicate_of_a_running_task_is_deleted_and_runs_once(stack):
    # Given the same task message sent twice (a dispatcher retry after a crash)
    name = define("cmd-dup", command=("python", "-c", "import time; time.sleep(1.5); print('once')"))
    body = send(stack, name)
    queue.send_messages([body], queue_url=stack["queue_url"])

    # When a worker with two slots runs
    worker = run_burst(stack)

    # Then the task ran once, and the duplicate is gone rather than back in 15 minutes
    types = [e["eventType"] for e in events_for(stack, body)]
    assert types.count("Task Started") == 1 and types.count("Task Completed") == 1, types
    assert "duplicate of running task" in worker.output
    assert sum(queue_counts(stack)) == 0


def test_copies_of_a_message_taken_by_two_workers_run_the_attempt_once(stack):
    # Given two copies of one task message (SQS at-least-once, or a reconciler re-send)
    name = define("cmd-two-workers", command=("python", "-c", "import time; time.sleep(2); print('once')"))
    body = send(stack, name)
    queue.send_messages([body], queue_url=stack["queue_url"])

    # When two workers, one slot each, take one copy each at the same time
    workers = [WorkerProcess({**stack["env"], "WORKER_ID": f"worker-{n}"}, "--burst", "--concurrency", "1",
                             "--queue-url", stack["queue_url"]) for n in (1, 2)]
    assert [w.wait() for w in workers] == [0, 0]

    # Then one of them ran it and the other dropped its copy: one start, one completion
    types = [e["eventType"] for e in events_for(stack, body)]
    assert types.count("Task Started") == 1 and types.count("Task Completed") == 1, types
    output = "\n".join(w.output for w in workers)
    assert output.count("attempt 1 of task") + output.count("has its outcome already") == 1, output
    assert sum(queue_counts(stack)) == 0


def test_a_dropped_copy_does_not_stop_the_worker_from_running_the_next_attempt(stack):
    # Given attempt 1 claimed by a worker that died holding the original message (received,
    # invisible for now), and a copy of that message on the queue
    name = define("cmd-after-copy", command=("python", "-c", "print('ran')"))
    body = send(stack, name)
    assert artifacts.create_once(artifacts.attempt_claim_key(body["jobId"], "a", body["requestId"], 1), "dead")
    sqs = client("sqs")
    (original,) = sqs.receive_message(QueueUrl=stack["queue_url"], VisibilityTimeout=600)["Messages"]
    queue.send_messages([body], queue_url=stack["queue_url"])
    worker = WorkerProcess(stack["env"], "--concurrency", "1", "--queue-url", stack["queue_url"],
                           "--wait-seconds", "1")
    try:
        # When this worker drops the copy (attempt 1 is taken), then gets the original back
        # from SQS (its second receive: attempt 2, the same requestId as the copy)
        worker.wait_for_line(f"attempt 1 of task {body['jobId']}/a was started by another worker")
        sqs.change_message_visibility(QueueUrl=stack["queue_url"], ReceiptHandle=original["ReceiptHandle"],
                                      VisibilityTimeout=0)

        # Then it runs attempt 2: a dropped copy is not remembered as a finished task
        worker.wait_for_line(f"task completed job={body['jobId']} task=a attempt=2")
    finally:
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait() == 0


def test_a_copy_of_a_finished_tasks_message_is_never_run_again(stack):
    # Given a task a worker completed (the dispatcher may not have recorded it yet)
    name = define("cmd-settled", command=("python", "-c", "print('done')"))
    body = send(stack, name)
    run_burst(stack)

    # When a copy of its message reaches another worker, and a copy counted as the next attempt
    queue.send_messages([body, {**body, "attempt": 2}], queue_url=stack["queue_url"])
    second = run_burst(stack, env={**stack["env"], "WORKER_ID": "another-worker"})

    # Then neither runs: the request has its outcome (each copy publishes the recorded event
    # again, under its own eventId, which the log keeps once), and both copies are gone
    events = [e for e in events_for(stack, body) if e["eventType"] != "Task Heartbeat"]
    distinct = {e["eventId"]: e["eventType"] for e in events}
    assert sorted(distinct.values()) == ["Task Completed", "Task Started"], events
    assert [e["eventType"] for e in events].count("Task Started") == 1
    assert second.output.count(f"task {body['jobId']}/a (request {body['requestId']}) has its outcome already") == 2
    assert sum(queue_counts(stack)) == 0


def test_an_agent_task_runs_the_real_cli_in_the_worker(stack, tmp_path):
    # Given an agent definition and a fake Anthropic API scripted to write a file and answer
    name = define("agent-writer", kind=DefinitionKind.AGENT, role="You write reports.",
                  instructions="Report on {input.topic}.", allowed_tools=("Write",), max_turns=3)
    body = send(stack, name, task_input={"topic": "beavers"})
    work_dir = stack["work_root"] / body["jobId"] / "a" / "attempt-1"
    turns = [tool_use("Write", {"file_path": str(work_dir / "report.md"), "content": "# Beavers\n"}),
             text("Report written.")]
    with FakeAnthropicAPI(turns) as api:
        env = {**stack["env"], "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": "sk-ant-api03-worker-fake-key",
               "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}

        # When a worker runs it
        run_burst(stack, env=env)

    # Then the prompt reached the API, and Task Completed carries the agent's accounting and artifact
    assert "Report on beavers." in "\n".join(api.conversation[0].user_texts())
    completed = events_for(stack, body)[-1]
    assert completed["eventType"] == "Task Completed", completed
    data = completed["data"]
    assert data["output"] == "Report written."
    assert data["numTurns"] == 2 and data["costUsd"] > 0 and data["usage"]["input_tokens"] > 0
    assert data["model"] == "claude-sonnet-4-5"
    assert [a["name"] for a in data["artifacts"]] == ["report.md"]
    assert artifacts.get_text(data["artifacts"][0]) == "# Beavers\n"
    transcript = artifacts.get_text(data["transcriptRef"])
    assert "sk-ant-api03-worker-fake-key" not in transcript
    assert json.loads(transcript.splitlines()[-1])["type"] == "ResultMessage"


FAKE_KEY = "sk-ant-api03-worker-fake-key-planted-0001"


def agent_env(stack, api: FakeAnthropicAPI, **extra: str) -> dict[str, str]:
    return {**stack["env"], "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": FAKE_KEY,
            "CLAUDE_CONFIG_DIR": str(stack["tmp"] / "claude"), "CLAUDE_CODE_MAX_RETRIES": "0", **extra}


def test_a_rate_limited_agent_task_is_retried_and_then_succeeds(stack):
    # Given an agent task whose first API call is rate limited (the CLI's own retries off)
    name = define("agent-rate-limited", kind=DefinitionKind.AGENT, instructions="Say hi to {input.who}.")
    body = send(stack, name, task_input={"who": "Ada"})
    with FakeAnthropicAPI([error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit"),
                           text("Hi Ada")]) as api:
        # When a worker runs it (no backoff, so the redelivery comes at once)
        run_burst(stack, "--retry-backoff", "0", env=agent_env(stack, api))

    # Then attempt 1 failed as retryable, SQS redelivered it, and attempt 2 completed
    outcomes = [(e["eventType"], e["attempt"]) for e in events_for(stack, body)
                if e["eventType"] in ("Task Failed", "Task Completed")]
    assert outcomes == [("Task Failed", 1), ("Task Completed", 2)]
    failed = next(e for e in events_for(stack, body) if e["eventType"] == "Task Failed")["data"]
    assert failed["error"]["kind"] == "rate_limit" and failed["willRetry"] is True
    assert events_for(stack, body)[-1]["data"]["output"] == "Hi Ada"
    assert queue_counts(stack) == (0, 0)


def test_a_permanent_agent_error_fails_once_and_is_not_redelivered(stack):
    name = define("agent-bad-key", kind=DefinitionKind.AGENT, instructions="Hello.", max_attempts=3)
    body = send(stack, name)
    with FakeAnthropicAPI([error(401, "authentication_error", "invalid x-api-key")] * 3) as api:
        worker = run_burst(stack, "--retry-backoff", "0", env=agent_env(stack, api))

    outcomes = [e for e in events_for(stack, body) if e["eventType"] not in ("Task Heartbeat", "Task Progress")]
    assert [e["eventType"] for e in outcomes] == ["Task Started", "Task Failed"]
    data = outcomes[-1]["data"]
    assert data["willRetry"] is False and data["error"] == {**data["error"], "kind": "auth", "retryable": False}
    assert queue_counts(stack) == (0, 0)
    assert FAKE_KEY not in worker.output and FAKE_KEY not in json.dumps(outcomes)


def test_no_credentials_fail_the_agent_task_at_once_naming_the_variables(stack):
    name = define("agent-no-creds", kind=DefinitionKind.AGENT, instructions="Hello.")
    body = send(stack, name)
    env = {k: v for k, v in stack["env"].items() if k not in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")}
    with FakeAnthropicAPI([text("never")]) as api:
        run_burst(stack, env={**env, "ANTHROPIC_BASE_URL": api.url})

    # (the worker checks before it reads inputs or forks a task process: no Task Started)
    [failed] = events_for(stack, body)
    assert failed["eventType"] == "Task Failed"
    error_ = failed["data"]["error"]
    assert (error_["kind"], error_["retryable"], failed["data"]["willRetry"]) == ("auth", False, False)
    assert "set ANTHROPIC_API_KEY" in error_["message"] and "CLAUDE_CODE_OAUTH_TOKEN" in error_["message"]
    assert api.requests == []  # no CLI session was even started
    assert queue_counts(stack) == (0, 0)


def test_a_quiet_session_is_stopped_by_the_inactivity_timeout_with_everything_it_started(stack):
    # Given a CLI that, after the prompt, starts a detached child (as the real one starts
    # Bash tools: a session of its own) and then says nothing
    pidfile = stack["tmp"] / "tool.pid"
    cli = claude_cli.install(stack["tmp"] / "fake-claude")
    name = define("agent-quiet", kind=DefinitionKind.AGENT, instructions="Hello.", max_attempts=1,
                  timeout_seconds=120)
    body = send(stack, name)
    env = {**stack["env"], "ANTHROPIC_API_KEY": FAKE_KEY, "CLAUDE_CLI_PATH": str(cli), "FAKE_CLI_MODE": "hang",
           "FAKE_CLI_PIDFILE": str(pidfile), "CLAUDE_INACTIVITY_TIMEOUT": "1500"}
    try:
        # When a worker runs it
        run_burst(stack, env=env)

        # Then the task failed as inactive (long before its 120 s timeout), and the
        # detached process is gone too
        failed = events_for(stack, body)[-1]
        assert failed["eventType"] == "Task Failed"
        assert failed["data"]["error"]["kind"] == "inactivity" and failed["data"]["willRetry"] is False
        assert "CLAUDE_INACTIVITY_TIMEOUT" in failed["data"]["error"]["message"]
        assert "session failed (inactivity" in artifacts.get_text(failed["data"]["logRef"])
        assert not alive(int(pidfile.read_text()))
    finally:
        if pidfile.exists() and alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_a_crashing_cli_and_an_oversized_line_fail_clearly_and_the_worker_lives_on(stack):
    # Given a CLI that crashes, one that writes a 2 MB line, then a plain command task
    cli = claude_cli.install(stack["tmp"] / "fake-claude")
    crash = send(stack, define("agent-crash", kind=DefinitionKind.AGENT, instructions="Hi.", max_attempts=1),
                 task_id="crash")
    after = send(stack, define("cmd-after-agents", command=("python", "-c", "print('still here')")), task_id="after")
    env = {**stack["env"], "ANTHROPIC_API_KEY": FAKE_KEY, "CLAUDE_CLI_PATH": str(cli), "FAKE_CLI_MODE": "crash"}
    run_burst(stack, env=env)
    huge = send(stack, define("agent-huge", kind=DefinitionKind.AGENT, instructions="Hi.", max_attempts=1),
                task_id="huge")
    worker = run_burst(stack, env={**env, "FAKE_CLI_MODE": "huge"})

    crashed = events_for(stack, crash)[-1]["data"]
    assert (crashed["error"]["kind"], crashed["error"]["retryable"]) == ("cli_crash", True)
    assert "exited with code 3" in crashed["error"]["message"]
    too_big = events_for(stack, huge)[-1]["data"]
    assert (too_big["error"]["kind"], too_big["error"]["retryable"], too_big["willRetry"]) == (
        "message_too_large", False, False)
    assert "too large" in too_big["error"]["message"] and len(json.dumps(too_big)) < 10_000
    assert events_for(stack, after)[-1]["data"]["output"] == "still here\n"
    assert "worker worker-under-test stopped" in worker.output


@pytest.mark.parametrize("cap", [1, 2])
def test_max_concurrent_claude_caps_agent_sessions_not_slots(stack, cap):
    # Given a worker with 3 slots, 3 agent tasks whose (fake) CLI sessions each last a second,
    # and MAX_CONCURRENT_CLAUDE=cap
    cli = claude_cli.install(stack["tmp"] / "fake-claude")
    log = stack["tmp"] / "sessions.log"
    name = define(f"agent-capped-{cap}", kind=DefinitionKind.AGENT, instructions="Hi.")
    bodies = [send(stack, name, task_id=f"t{n}") for n in range(3)]
    env = {**stack["env"], "ANTHROPIC_API_KEY": FAKE_KEY, "CLAUDE_CLI_PATH": str(cli), "FAKE_CLI_MODE": "slow",
           "FAKE_CLI_LOG": str(log), "MAX_CONCURRENT_CLAUDE": str(cap)}

    # When the worker runs them
    worker = WorkerProcess(env, "--burst", "--concurrency", "3", "--queue-url", stack["queue_url"])
    assert worker.wait() == 0, worker.output

    # Then all three completed, and never more than `cap` sessions were open at once
    assert [events_for(stack, b)[-1]["eventType"] for b in bodies] == ["Task Completed"] * 3
    open_sessions, most = 0, 0
    for line in log.read_text().split("\n")[:-1]:
        open_sessions += 1 if line.startswith("start") else -1
        most = max(most, open_sessions)
    assert most == cap


def test_files_are_deleted_locally_after_upload_when_configured(stack):
    name = define("cmd-delete-after", command=("python", "-c", "open('kept-in-s3.txt', 'w').write('data')"))
    body = send(stack, name)

    run_burst(stack, env={**stack["env"], "DELETE_FILES_AFTER_UPLOAD": "true"})

    [artifact] = events_for(stack, body)[-1]["data"]["artifacts"]
    assert artifacts.get_text(artifact) == "data"
    work_dir = stack["work_root"] / body["jobId"] / "a" / "attempt-1"
    assert not work_dir.exists() and not work_dir.with_name("attempt-1.run").exists()
