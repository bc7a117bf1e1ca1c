"""Cancel, retry and add tasks from the dashboard: POST with a CSRF token, a confirm
prompt on each button, and the same services as the API (the outcome is read back
through the API)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from api.models import ApiKey
from jobmanager.domain.model import TaskSpec
from tests.helpers import run_as_worker, take_task_messages

from .conftest import DEF, TENANT, drive, new_job

pytestmark = pytest.mark.usefixtures("echo_definition")


@pytest.fixture
def api(db):
    _, raw = ApiKey.issue(name="dash-actions", tenant_id=TENANT)
    return lambda path: Client().get(path, HTTP_X_API_KEY=raw).json()


def test_cancel_job_asks_to_confirm_then_cancels_through_the_service(ops_client, rule_runner, api):
    job = new_job()
    page = ops_client.get(reverse("dashboard:job", args=[job["jobId"]])).content.decode()
    cancel = reverse("dashboard:job-cancel", args=[job["jobId"]])
    assert f'action="{cancel}"' in page and 'data-confirm="Cancel job' in page and "csrfmiddlewaretoken" in page

    assert ops_client.get(cancel).status_code == 405  # never a GET
    response = ops_client.post(cancel, follow=True)

    assert response.redirect_chain[-1][0] == reverse("dashboard:job", args=[job["jobId"]])
    assert "Job cancelled: 4 task(s) cancelled." in response.content.decode()
    assert api(f"/jobs/{job['jobId']}")["status"] == "cancelled"
    again = ops_client.post(cancel, follow=True).content.decode()
    assert "already cancelled" in again
    take_task_messages()


def test_cancel_of_a_finished_job_is_refused_with_the_services_message(ops_client, rule_runner):
    job = new_job(tasks=[TaskSpec("a", DEF)])
    drive(rule_runner)
    html = ops_client.post(reverse("dashboard:job-cancel", args=[job["jobId"]]), follow=True).content.decode()
    assert "is completed; only a running job can be cancelled" in html


def test_actions_need_a_csrf_token(rule_runner, django_user_model):
    job = new_job()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(django_user_model.objects.create_user(username="ops2", password="not-a-real-password"))

    refused = strict.post(reverse("dashboard:job-cancel", args=[job["jobId"]]))
    assert refused.status_code == 403 and b"This form has expired" in refused.content
    htmx = strict.post(reverse("dashboard:job-cancel", args=[job["jobId"]]), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 403 and htmx["HX-Refresh"] == "true" and b"<html" not in htmx.content
    assert strict.get(reverse("dashboard:job", args=[job["jobId"]])).context["job"]["status"] == "running"

    # With the page's token it goes through
    strict.get(reverse("dashboard:job", args=[job["jobId"]]))
    token = strict.cookies["csrftoken"].value
    ok = strict.post(reverse("dashboard:job-cancel", args=[job["jobId"]]), {"csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    take_task_messages()


def test_retry_a_failed_task_runs_it_again(ops_client, rule_runner, api):
    job = new_job(tasks=[TaskSpec("a", DEF), TaskSpec("b", DEF, {}, ("a",))])
    failure = {"error": {"message": "boom", "retryable": False}, "willRetry": False}
    drive(rule_runner, act=lambda m: run_as_worker(m, fail=failure))
    task_page = ops_client.get(reverse("dashboard:task", args=[job["jobId"], "a"])).content.decode()
    retry = reverse("dashboard:task-retry", args=[job["jobId"], "a"])
    assert f'action="{retry}"' in task_page and 'data-confirm="Retry task a?' in task_page
    assert api(f"/jobs/{job['jobId']}")["status"] == "failed"

    response = ops_client.post(retry, follow=True)

    assert "Task a retried: attempt 2 is queued; 1 skipped task(s) downstream will run again." in response.content.decode()
    state = api(f"/jobs/{job['jobId']}")
    assert state["status"] == "running"
    assert {t["taskId"]: t["status"] for t in state["tasks"]} == {"a": "queued", "b": "pending"}
    drive(rule_runner)
    assert api(f"/jobs/{job['jobId']}")["status"] == "completed"
    # A completed task offers no retry, and a forced POST gets the service's refusal
    assert 'id="retry-task"' not in ops_client.get(reverse("dashboard:task", args=[job["jobId"], "a"])).content.decode()
    assert "only a failed task" in ops_client.post(retry, follow=True).content.decode()


def test_add_tasks_is_validated_like_the_api(ops_client, rule_runner, api):
    job = new_job(tasks=[TaskSpec("a", DEF), TaskSpec("b", DEF, {}, ("a",))])
    url = reverse("dashboard:job-add-tasks", args=[job["jobId"]])
    assert "Add tasks…" in ops_client.get(reverse("dashboard:job", args=[job["jobId"]])).content.decode()
    form = ops_client.get(url).content.decode()
    assert 'name="tasks"' in form and "data-confirm" in form

    cases = {
        "{not json": "not valid JSON",
        json.dumps({"tasks": [{"taskId": "bad id!", "taskDefinition": DEF}]}): "taskId must be 1-64 letters",
        json.dumps({"tasks": [{"taskId": "x", "taskDefinition": DEF, "depends_on": ["a"]}]}): "unknown field",
        json.dumps([{"taskId": "x", "taskDefinition": "no-such-definition"}]): "no-such-definition",
        json.dumps([{"taskId": "x", "taskDefinition": DEF, "dependsOn": ["nope"]}]): "nope",
        json.dumps([{"taskId": "a", "taskDefinition": DEF}]): "a",
    }
    for body, expected in cases.items():
        response = ops_client.post(url, {"tasks": body})
        html = response.content.decode()
        assert response.status_code == 400 and "Nothing was added" in html and expected in html, body
    assert len(api(f"/jobs/{job['jobId']}")["tasks"]) == 2

    tasks = [{"taskId": "c", "taskDefinition": DEF, "dependsOn": ["b"]}, {"taskId": "d", "taskDefinition": DEF}]
    response = ops_client.post(url, {"tasks": json.dumps({"tasks": tasks})}, follow=True)

    assert "Added 2 task(s) to the job (1 queued now)." in response.content.decode()
    assert {t["taskId"] for t in api(f"/jobs/{job['jobId']}")["tasks"]} == {"a", "b", "c", "d"}
    drive(rule_runner)
    assert api(f"/jobs/{job['jobId']}")["status"] == "completed"
    finished = ops_client.post(url, {"tasks": json.dumps(tasks)})
    assert finished.status_code == 400 and "tasks can only be added to a running job" in finished.content.decode()
