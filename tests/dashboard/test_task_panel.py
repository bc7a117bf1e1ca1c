"""The task panel beyond status: Markdown output that can't run script, tokens and
turns, progress events, the log (presigned), the prompt, attempt n of m."""

from __future__ import annotations

import urllib.request

import pytest
from django.urls import reverse

from jobmanager.aws import artifacts, bus
from jobmanager.domain.events import EventType
from jobmanager.domain.model import TaskSpec
from jobmanager.services import task_definitions
from tests.helpers import worker_event

from .conftest import DEF, TENANT, drive, new_job

pytestmark = pytest.mark.usefixtures("echo_definition")

XSS_OUTPUT = """# Report

Some **bold** text and a [safe link](https://example.com/x).

<script>alert("xss")</script>
<img src=x onerror="alert(1)">
[click me](javascript:alert(1))
![pixel](data:text/html;base64,PHNjcmlwdD4=)
"""


def task_url(job_id: str, task_id: str) -> str:
    return reverse("dashboard:task", args=[job_id, task_id])


def complete(message, **data):
    bus.publish([worker_event(EventType.TASK_STARTED, message),
                 worker_event(EventType.TASK_COMPLETED, message, **data)])


def test_output_is_rendered_as_markdown_and_no_html_gets_through(ops_client, rule_runner):
    job = new_job(tasks=[TaskSpec("md", DEF)])
    drive(rule_runner, act=lambda m: complete(m, output=XSS_OUTPUT, outputSize=len(XSS_OUTPUT)))

    html = ops_client.get(task_url(job["jobId"], "md")).content.decode()
    rendered = html[html.index('id="output"'):html.index('id="output-raw"')]

    assert "<h1>Report</h1>" in rendered and "<strong>bold</strong>" in rendered
    assert '<a href="https://example.com/x">safe link</a>' in rendered
    # Raw HTML is shown as text, dangerous URLs are not links
    assert "<script" not in rendered and "&lt;script&gt;" in rendered
    assert "<img src=x" not in rendered and "&lt;img" in rendered
    assert "javascript:" not in rendered.replace("[click me](javascript:alert(1))", "")
    assert 'href="javascript' not in html and "data:text/html" not in rendered.replace("(data:text/html", "")
    assert "<script>alert" not in html


def test_cost_tokens_turns_progress_and_log(ops_client, rule_runner):
    job = new_job(tasks=[TaskSpec("agent", DEF)])
    log_ref = artifacts.put_text(f"jobs/{job['jobId']}/tasks/agent/results/attempt-1/transcript.jsonl",
                                 '{"type": "AssistantMessage"}\n')

    def act(message):
        bus.publish([worker_event(EventType.TASK_STARTED, message),
                     worker_event(EventType.TASK_PROGRESS, message, turn=1, tool="Read"),
                     worker_event(EventType.TASK_PROGRESS, message, turn=2, tool="Write")])
        rule_runner.drain()
        running = ops_client.get(task_url(job["jobId"], "agent")).content.decode()
        assert "Latest progress" in running and "tool=Write" in running
        bus.publish([worker_event(EventType.TASK_COMPLETED, message, output="done", costUsd=0.0123, numTurns=2,
                                  usage={"input_tokens": 1200, "output_tokens": 340}, transcriptRef=log_ref)])

    drive(rule_runner, act=act)
    response = ops_client.get(task_url(job["jobId"], "agent"))
    html = response.content.decode()

    assert "$0.0123" in html and "<dt>Turns</dt><dd>2</dd>" in html
    assert "input 1200 · output 340" in html
    progress = html[html.index('class="data progress-events"'):]
    assert progress.count("<tr><td>") == 2 and "&quot;tool&quot;: &quot;Read&quot;" in progress and "&quot;tool&quot;: &quot;Write&quot;" in progress
    # The log: a link per attempt that redirects to a presigned S3 URL serving the file
    (log,) = [f for f in response.context["files"] if f["field"] == "transcriptRef"]
    link = reverse("dashboard:task-file", args=[job["jobId"], "agent", log["eventId"], "transcriptRef"])
    assert f'href="{link}"' in html
    redirect = ops_client.get(link)
    assert redirect.status_code == 302 and "Signature" in redirect["Location"]
    with urllib.request.urlopen(redirect["Location"], timeout=10) as s3:
        assert s3.read() == b'{"type": "AssistantMessage"}\n'
    assert ops_client.get(reverse("dashboard:task-file", args=[job["jobId"], "agent", log["eventId"], "secret"])
                          ).status_code == 404


def test_prompt_panel_renders_the_definition_with_input_and_upstream_outputs(ops_client, rule_runner):
    task_definitions.put_task_definition(tenant_id=TENANT, name="dash-writer", body={
        "kind": "agent", "tag": "[dash]", "role": "You write briefly.",
        "instructions": "Write about {input.topic} using {tasks.a.output}."})
    job = new_job(tasks=[TaskSpec("a", DEF, {"n": 1}), TaskSpec("w", "dash-writer", {"topic": "tides"}, ("a",))])

    # Before 'a' completes, the prompt can't be built yet, and the panel says why
    url = reverse("dashboard:task-prompt", args=[job["jobId"], "w"])
    early = ops_client.get(url).content.decode()
    assert "Not renderable yet" in early and "tasks.a.output" in early

    def act(message):
        if message["taskId"] == "a":
            complete(message, output="research notes")
    drive(rule_runner, act=act)

    page = ops_client.get(task_url(job["jobId"], "w")).content.decode()
    assert f'hx-get="{url}"' in page and "&quot;topic&quot;: &quot;tides&quot;" in page  # the input, escaped
    html = ops_client.get(url).content.decode()
    assert "[dash]\n\nWrite about tides using research notes." in html and "You write briefly." in html
    assert "Queued since" in page and "attempt 1 of 3" in page  # why it isn't running: attempt n of m


def test_pending_task_names_attempt_to_come(ops_client, rule_runner):
    job = new_job()
    html = ops_client.get(task_url(job["jobId"], "d")).content.decode()
    assert "Waiting for" in html and "as attempt 1 of 2" in html
