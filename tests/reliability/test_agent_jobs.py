"""Agent jobs end to end: the producer API over HTTP, the dispatcher behind the local rule
runner, real worker processes, and the REAL Claude Code CLI (bundled with the SDK)
talking to a fake Anthropic Messages API on loopback. Only Anthropic is simulated."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from jobmanager.aws import artifacts
from jobmanager.aws.clients import client
from jobmanager.store.events_table import get_event_store
from tests.fakes.anthropic_api import FakeAnthropicAPI, text, tool_use

from .harness import job_status, of_type, pid_alive, sequence, settled_log, task_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PLANTED = "sk-ant-api03-PLANTED-never-leaves-the-worker-7d1e"


@pytest.fixture
def claude(tmp_path):
    """The worker environment for real agent sessions against ``api``."""

    def env(api: FakeAnthropicAPI, **extra: str) -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": PLANTED,
                "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"), "CLAUDE_CODE_MAX_RETRIES": "0", **extra}

    return env


def put_agent(api_client, name: str, **fields) -> None:
    status, body = api_client.call("PUT", f"/task-definitions/{name}", {"kind": "agent", **fields})
    assert status in (200, 201), body


def test_a_two_task_agent_dag_feeds_the_first_output_to_the_second_and_shows_the_accounting(
        tenant, api, make_queue, runner, workers, claude, client, django_user_model, env):
    # Given two agent definitions (research, then a writer that uses the Write tool), a fake
    # Anthropic API scripted for both sessions, and a worker holding a planted API key
    queue_url = make_queue()
    put_agent(api, "agent-research", role="You research.", instructions="Research {input.topic}.", maxTurns=3)
    put_agent(api, "agent-writer", role="You write.", allowedTools=["Write", "Bash"], maxTurns=5,
              instructions="Write about {input.topic} from these notes: {tasks.research.output}")
    turns = [
        text("Otters hold hands while they sleep.", input_tokens=200, output_tokens=20),
        # the writer: a tool turn that echoes its environment (the planted key), a file, an answer
        tool_use("Bash", {"command": "echo key=$ANTHROPIC_API_KEY", "description": "leak?"}),
        tool_use("Bash", {"command": "printf '# Otters\\nThey hold hands.\\n' > report.md",
                          "description": "write the report"}),
        text(f"Report written (and my key is {PLANTED})", input_tokens=400, output_tokens=50),
    ]
    with FakeAnthropicAPI(turns) as fake:
        worker = workers(queue_url, **claude(fake))
        status, job = api.call("POST", "/jobs", {"name": "agent dag", "tasks": [
            {"taskId": "research", "taskDefinition": "agent-research", "input": {"topic": "otters"}},
            {"taskId": "writer", "taskDefinition": "agent-writer", "input": {"topic": "otters"},
             "dependsOn": ["research"]},
        ]})
        assert status == 201, job
        job_id = job["jobId"]

        # When the job runs
        wait_until(lambda: job_status(job_id) != "running", timeout=120, what="the job to finish")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0

    # Then both tasks completed, in order, and the writer's prompt carried the research output
    assert job_status(job_id) == "completed", worker.output
    prompts = ["\n".join(r.user_texts()) for r in fake.conversation]
    assert "Research otters." in prompts[0]
    assert "Write about otters from these notes: Otters hold hands while they sleep." in prompts[1]
    # ... the file the writer's tool wrote is in S3, listed in its Task Completed
    events = settled_log(runner, job_id)
    (research_done,) = of_type(events, "Task Completed", "research")
    (writer_done,) = of_type(events, "Task Completed", "writer")
    [report_artifact] = writer_done["data"]["artifacts"]
    assert report_artifact["name"] == "report.md"
    assert artifacts.get_text(report_artifact) == "# Otters\nThey hold hands.\n"
    # ... each completion carries the execution summary
    for done, n_turns in ((research_done, 1), (writer_done, 3)):
        data = done["data"]
        assert data["numTurns"] == n_turns and data["costUsd"] > 0
        assert data["usage"]["input_tokens"] > 0 and data["usage"]["output_tokens"] > 0
        assert data["model"] and data["agentDurationMs"] >= 0 and data["durationMs"] > 0
        assert data["logRef"] and data["transcriptRef"]
    assert writer_done["data"]["output"] == "Report written (and my key is [REDACTED])"
    # ... tool use was reported as progress
    progress = [e["data"] for e in of_type(events, "Task Progress", "writer")]
    assert progress and progress[-1]["toolsStarted"] >= 1
    # ... the job's cost is the sum, and the dashboard shows cost, tokens and turns
    job_item = get_event_store().get_job(job_id, consistent=True)
    assert float(job_item["costUsd"]) == pytest.approx(research_done["data"]["costUsd"] + writer_done["data"]["costUsd"])
    env({"TENANT_ID": tenant})  # the dashboard shows the deployment's tenant
    client.force_login(django_user_model.objects.create_user(username="ops-agent", password="not-a-real-password"))
    page = client.get(f"/dashboard/jobs/{job_id}/tasks/writer/").content.decode()
    usage = writer_done["data"]["usage"]
    assert f"<dt>Cost</dt><dd>${writer_done['data']['costUsd']:.4f}</dd>" in page, page
    assert "<dt>Turns</dt><dd>3</dd>" in page
    assert f">input {usage['input_tokens']} · " in page and f" · output {usage['output_tokens']}<" in page

    # And the planted key appears nowhere: events, worker log, task logs, transcripts,
    # results in S3, the API, the dashboard's pages
    outputs = {"events": json.dumps(events), "worker log": worker.output,
               "api job": json.dumps(api.call("GET", f"/jobs/{job_id}")[1]),
               "api tasks": json.dumps(api.call("GET", f"/jobs/{job_id}/tasks")[1])}
    for path in (f"/dashboard/jobs/{job_id}/", f"/dashboard/jobs/{job_id}/tasks/writer/",
                 f"/dashboard/jobs/{job_id}/tasks/research/", "/dashboard/"):
        outputs[path] = client.get(path).content.decode()
    s3 = client_s3_objects(f"jobs/{job_id}/")
    assert any(key.endswith("transcript.jsonl") for key in s3) and any(key.endswith("task.log") for key in s3)
    outputs.update(s3)
    leaks = [where for where, body in outputs.items() if PLANTED in body]
    assert leaks == []
    # (the agent really did see it: its Bash tool result went to the model, as it would)
    assert any(PLANTED in json.dumps(r.body) for r in fake.conversation)


def client_s3_objects(prefix: str) -> dict[str, str]:
    s3 = client("s3")
    bucket = os.environ["S3_BUCKET"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace") for key in keys}


def sleepers(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline and "bash" not in cmdline.split()[0] and pid_alive(int(proc.name)):
                found.append(int(proc.name))
    return found


def test_cancelling_an_agent_in_a_long_tool_call_frees_the_slot_and_leaves_no_process(
        tenant, api, make_queue, runner, workers, claude):
    # Given a one-slot worker (one Claude session at a time) whose agent runs a long Bash command
    queue_url = make_queue()
    put_agent(api, "agent-sleeper", allowedTools=["Bash"], instructions="Wait.", timeoutSeconds=900)
    put_agent(api, "agent-quick", instructions="Answer.")
    marker = "sleep 611"  # an unusual duration: this test's process, nobody else's
    with FakeAnthropicAPI([tool_use("Bash", {"command": f"echo waiting && {marker} && echo woke",
                                             "description": "wait", "timeout": 600000}),
                           text("quick answer")]) as fake:
        worker = workers(queue_url, VISIBILITY_EXTENSION_INTERVAL="500", MAX_CONCURRENT_CLAUDE="1",
                         **claude(fake))
        try:
            _, slow = api.call("POST", "/jobs", {"name": "slow", "tasks": [
                {"taskId": "sleeper", "taskDefinition": "agent-sleeper"}]})
            wait_until(lambda: sleepers(marker), timeout=60, what="the agent's tool to start sleeping")
            _, quick = api.call("POST", "/jobs", {"name": "quick", "tasks": [
                {"taskId": "quick", "taskDefinition": "agent-quick"}]})
            assert task_status(quick["jobId"], "quick") == "queued"  # waiting for the only slot

            # When the sleeping agent's job is cancelled
            status, body = api.call("POST", f"/jobs/{slow['jobId']}/cancel")
            assert status == 202 and body["stopping"] == ["sleeper"], body

            # Then the agent is stopped, nothing it started survives, and the slot runs the next job
            wait_until(lambda: task_status(slow["jobId"], "sleeper") == "cancelled", timeout=60,
                       what="the agent task to be cancelled")
            wait_until(lambda: not sleepers(marker), timeout=15, what="the tool's processes to be gone")
            wait_until(lambda: job_status(quick["jobId"]) == "completed", timeout=90, what="the next job to run")
        finally:
            for pid in sleepers(marker):  # only if the test failed
                os.kill(pid, signal.SIGKILL)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    events = settled_log(runner, slow["jobId"])
    assert sequence(events, "sleeper") == ["Task Queued", "Task Started", "Task Cancelled"]
    assert of_type(settled_log(runner, quick["jobId"]), "Task Completed", "quick")[0]["data"]["output"] == \
        "quick answer"


def test_a_job_that_reached_its_budget_starts_no_new_agent_task_and_says_so(
        tenant, api, make_queue, runner, workers, claude):
    # Given a job of two agent roots, each costing ~75% of the job's budget ($0.0225 of
    # $0.03: within what each session may spend), and an agent task after both
    queue_url = make_queue()
    put_agent(api, "agent-spender", instructions="Think about {input.n}.")
    turns = [text("thought a lot", input_tokens=5000, output_tokens=500) for _ in range(2)] + [text("never")]
    with FakeAnthropicAPI(turns) as fake:
        worker = workers(queue_url, MAX_CONCURRENT_CLAUDE="1", **claude(fake))
        status, job = api.call("POST", "/jobs", {"name": "budgeted", "maxBudgetUsd": 0.03, "tasks": [
            {"taskId": "a", "taskDefinition": "agent-spender", "input": {"n": 1}},
            {"taskId": "b", "taskDefinition": "agent-spender", "input": {"n": 2}},
            {"taskId": "join", "taskDefinition": "agent-spender", "input": {"n": 3}, "dependsOn": ["a", "b"]},
            {"taskId": "after", "taskDefinition": "agent-spender", "input": {"n": 4}, "dependsOn": ["join"]},
        ]})
        assert status == 201, job
        job_id = job["jobId"]

        # When both roots complete
        wait_until(lambda: job_status(job_id) != "running", timeout=90, what="the job to finish")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0

    # Then the join was never started but skipped, saying why, the task after it with it,
    # and the job says its budget was reached
    assert len(fake.conversation) == 2
    events = settled_log(runner, job_id)
    spent = sum(of_type(events, "Task Completed", t)[0]["data"]["costUsd"] for t in ("a", "b"))
    assert spent >= 0.03
    (skipped,) = of_type(events, "Task Skipped", "join")
    assert skipped["data"]["budgetReached"] is True
    assert skipped["data"]["reason"] == (f"job budget reached: ${spent:.4f} spent of its maxBudgetUsd $0.0300; "
                                         "no new agent task is started")
    assert of_type(events, "Task Skipped", "after")[0]["data"]["reason"] == "upstream task 'join' skipped"
    (ended,) = of_type(events, "Job Failed")
    assert ended["data"]["budgetReached"] is True and ended["data"]["maxBudgetUsd"] == 0.03
    status, view = api.call("GET", f"/jobs/{job_id}")
    assert view["budgetReached"] is True and view["maxBudgetUsd"] == 0.03
    assert [t["skippedReason"] for t in view["tasks"] if t["taskId"] == "join"] == [skipped["data"]["reason"]]
