"""The health check's entry points: the Lambda handlers (scheduled + single), the
management command, ``GET /health/tasks/{requestId}``, and the dashboard page."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ApiKey
from jobmanager.config import BASE_DIR
from lambdas import health_check
from tests.helpers import run_as_worker

from .conftest import alerts_for, start, submit


def test_scheduled_handler_alerts_and_summarises(checked_tenant, slack_on, rule_runner):
    # Given a task that started 5 minutes ago with a 2-minute timeout
    job = submit(checked_tenant)
    start(rule_runner, job["messages"]["stuck"], ago=300)

    # When the schedule fires twice (as Zappa calls it: the scheduled event, a context)
    first = health_check.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
    second = health_check.handler({"source": "aws.events"}, None)

    # Then one alert, posted to Slack, and a summary a log reader can use
    assert first["running"] == 1 and first["counts"]["overtime"] == 1
    assert first["alerts"] == [{"jobId": job["job"]["jobId"], "taskId": "stuck", "level": "overtime", "slack": "sent"}]
    assert second["alerts"] == []
    assert len(slack_on.messages(mentioning=job["job"]["jobId"])) == 1


def test_check_single_handler_answers_by_request_id(tenant, rule_runner):
    job = submit(tenant)
    message = job["messages"]["stuck"]
    start(rule_runner, message, ago=100)

    found = health_check.check_single({"requestId": message["requestId"]}, None)

    assert (found["taskId"], found["level"], found["status"]) == ("stuck", "critical", "running")
    with pytest.raises(ValueError, match="requestId"):
        health_check.check_single({}, None)


def test_the_handlers_load_without_django():
    # Lambda cold starts stay cheap: importing the handler doesn't import Django
    code = "import sys, lambdas.health_check; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_command_prints_a_table_and_can_hold_the_alerts(checked_tenant, slack_off, rule_runner):
    job = submit(checked_tenant, task_ids=("stuck", "fine"))
    start(rule_runner, job["messages"]["stuck"], ago=100, worker="worker-3")
    start(rule_runner, job["messages"]["fine"], worker="worker-4")

    out = io.StringIO()
    call_command("health_check", "--no-alert", stdout=out)
    table = out.getvalue()
    assert "2 running task(s): 0 overtime, 1 critical, 0 warning, 1 healthy" in table
    critical_line = next(line for line in table.splitlines() if line.startswith("critical"))
    for words in (job["job"]["jobId"], "stuck", "health-sleeper", "worker-3", "the worker is probably gone"):
        assert words in critical_line
    rule_runner.drain()
    assert alerts_for(checked_tenant) == []  # --no-alert alerted nobody

    out = io.StringIO()
    call_command("health_check", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["alerts"] == [{"jobId": job["job"]["jobId"], "taskId": "stuck", "level": "critical",
                                 "eventId": report["alerts"][0]["eventId"], "slack": "off"}]


def test_command_by_request_id(tenant, rule_runner):
    job = submit(tenant)
    message = job["messages"]["stuck"]
    start(rule_runner, message, worker="worker-5")

    out = io.StringIO()
    call_command("health_check", "--request-id", message["requestId"], stdout=out)
    assert "level  healthy" in out.getvalue() and "workerId  worker-5" in out.getvalue()
    with pytest.raises(CommandError, match="no task with requestId unknown-request"):
        call_command("health_check", "--request-id", "unknown-request")


@pytest.mark.django_db
def test_api_health_of_a_task_by_request_id(tenant, rule_runner):
    # Given a running task of the key's tenant
    job = submit(tenant)
    message = job["messages"]["stuck"]
    start(rule_runner, message, ago=100)
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=ApiKey.issue(name="ops", tenant_id=tenant)[1])

    # When asked for its health
    response = api.get(f"/health/tasks/{message['requestId']}")

    # Then the answer says how it is doing and why
    assert response.status_code == 200
    body = response.json()
    assert (body["jobId"], body["taskId"], body["level"]) == (message["jobId"], "stuck", "critical")
    assert body["timeoutSeconds"] == 120 and body["elapsedSeconds"] >= 100

    # Another tenant's key, an unknown id and no key get nothing
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=ApiKey.issue(name="other", tenant_id="someone-else")[1])
    assert other.get(f"/health/tasks/{message['requestId']}").status_code == 404
    missing = api.get("/health/tasks/nope")
    assert missing.status_code == 404 and "no task with requestId nope" in missing.json()["message"]
    assert APIClient().get(f"/health/tasks/{message['requestId']}").status_code == 401


@pytest.fixture
def operator(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="ops", password="not-a-real-password"))
    return client


def test_dashboard_health_page_groups_running_tasks_and_lists_alerts(checked_tenant, slack_off, rule_runner,
                                                                     operator):
    # Given a stuck task (alerted by the scheduled check), a healthy one, and a finished one
    job = submit(checked_tenant, task_ids=("stuck", "fine", "done"))
    start(rule_runner, job["messages"]["stuck"], ago=100, worker="worker-dead")
    start(rule_runner, job["messages"]["fine"])
    run_as_worker(job["messages"]["done"])
    rule_runner.drain()
    health_check.handler({}, None)
    rule_runner.drain()

    # When an operator opens the health page
    response = operator.get(reverse("dashboard:health"))

    # Then each running task is under its level, with elapsed vs timeout and the last heartbeat
    html = response.content.decode()
    assert response.status_code == 200
    job_id = job["job"]["jobId"]
    critical = html.split('<table class="data health" data-level="critical"')[1].split("</table>")[0]
    assert f'data-task="{job_id}/stuck"' in critical and "worker-dead" in critical
    assert "/ 2m 00s" in critical and "ago)" in critical
    healthy = html.split('<table class="data health" data-level="healthy"')[1].split("</table>")[0]
    assert f'data-task="{job_id}/fine"' in healthy
    assert f"{job_id}/done" not in html
    assert 'hx-trigger="every 5s"' in html and 'aria-current="page">Health</a>' in html
    # And the alert is listed, with Slack's part in it
    alerts = html.split('<table class="data alerts">')[1]
    assert f'data-task="{job_id}/stuck"' in alerts and ">off<" in alerts.replace(" ", "").replace("\n", "")

    # The poll gets only the live block
    partial = operator.get(reverse("dashboard:health"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="health-live")
    assert partial.content.decode().lstrip().startswith('<section id="health-live"')


def test_dashboard_health_page_needs_a_login(client, aws_stack):
    response = client.get(reverse("dashboard:health"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_health_page_when_nothing_runs(checked_tenant, operator):
    html = operator.get(reverse("dashboard:health")).content.decode()
    assert "No task is running right now." in html and "No alerts yet." in html
    assert datetime.now(UTC).strftime("%Y-%m-%d") in html  # "checked" time
