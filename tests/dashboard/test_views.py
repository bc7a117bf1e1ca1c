"""The dashboard against a real job in the emulator, driven as a worker would drive it."""

from __future__ import annotations

import re
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from dashboard import views
from jobmanager.aws import artifacts, bus
from jobmanager.domain.events import EventType
from jobmanager.domain.model import TaskSpec
from tests.helpers import run_as_worker, take_task_messages, worker_event

from .conftest import DEF, drive, new_job
from .prefix import PREFIX, call

pytestmark = pytest.mark.usefixtures("echo_definition")

HTMX = {"HTTP_HX_REQUEST": "true"}


def job_url(job_id: str) -> str:
    return reverse("dashboard:job", args=[job_id])


def task_url(job_id: str, task_id: str) -> str:
    return reverse("dashboard:task", args=[job_id, task_id])


def test_anonymous_user_is_sent_to_login(client, aws_stack):
    for url in (reverse("dashboard:jobs"), job_url("x"), reverse("dashboard:task-definitions")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login")) and "next=" in response["Location"]


def test_login_page_renders_a_form(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


def test_a_guessed_dashboard_login_url_leads_to_the_login_page(client, db):
    response = client.get("/dashboard/login/?next=/dashboard/")
    assert response.status_code == 302 and response["Location"] == reverse("login") + "?next=/dashboard/"


def test_jobs_list_shows_the_job_with_progress(ops_client, rule_runner):
    job = new_job("nightly-report")

    response = ops_client.get(reverse("dashboard:jobs"))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="{job_url(job["jobId"])}"' in html and "nightly-report" in html
    assert "0/4" in html and 'class="badge status-running"' in html
    assert 'hx-trigger="every 3s"' in html  # the table body polls itself
    assert "Signed in as <strong>ops</strong>" in html and 'action="/accounts/logout/"' in html


def test_jobs_rows_partial_is_only_the_table_body(ops_client, rule_runner):
    new_job()
    response = ops_client.get(reverse("dashboard:jobs"), HTTP_HX_TARGET="job-rows", **HTMX)
    html = response.content.decode().strip()
    assert response.status_code == 200
    assert html.startswith('<tbody id="job-rows"') and "<html" not in html
    # A filter link swaps the whole panel: filters, table and pager
    panel = ops_client.get(reverse("dashboard:jobs"), {"status": "running"}, HTTP_HX_TARGET="jobs-panel", **HTMX)
    html = panel.content.decode().strip()
    assert html.startswith('<section id="jobs-panel">') and 'class="active" aria-current="true">running<' in html
    assert 'hx-get="/dashboard/?status=running"' in html  # the rows keep polling the filtered list


def test_job_page_shows_each_task_and_the_graph(ops_client, rule_runner):
    job = new_job("diamond")

    html = ops_client.get(job_url(job["jobId"])).content.decode()

    assert "<svg" in html
    for task_id in "abcd":
        assert f'data-node="{task_id}"' in html and f'data-task="{task_id}"' in html
        assert f'href="{task_url(job["jobId"], task_id)}"' in html
    assert 'data-edge="b->d"' in html and 'data-edge="c->d"' in html and 'data-edge="a->d"' not in html
    assert 'hx-trigger="every 2s"' in html


def test_job_partial_polls_while_running_and_stops_once_completed(ops_client, rule_runner):
    # Given a running job: its partial answers 200 and keeps polling
    job = new_job()
    running = ops_client.get(job_url(job["jobId"]), **HTMX)
    assert running.status_code == 200
    assert running.content.decode().lstrip().startswith('<div id="job-live" hx-get=')

    # When every task completes
    drive(rule_runner)

    # Then the partial says so with 286 (htmx stops polling) and no trigger of its own
    done = ops_client.get(job_url(job["jobId"]), HTTP_HX_TARGET="job-live", **HTMX)
    html = done.content.decode()
    assert done.status_code == 286
    assert "hx-trigger" not in html and "<html" not in html
    assert html.count('class="badge status-completed"') >= 5  # the job and its four tasks
    assert ops_client.get(job_url(job["jobId"])).status_code == 200  # a full page is always 200


def test_task_page_shows_output_and_timeline(ops_client, rule_runner):
    job = new_job()
    drive(rule_runner)

    html = ops_client.get(task_url(job["jobId"], "d")).content.decode()

    assert '<div class="markdown" id="output"><p>out-d</p>' in html
    assert '<pre class="output" id="output-raw">out-d</pre>' in html
    for event_type in ("Task Queued", "Task Started", "Task Completed"):
        assert event_type in html
    assert "test-worker" in html  # the worker that ran it


def test_pending_and_queued_tasks_say_what_they_wait_for(ops_client, rule_runner):
    job = new_job()

    pending = ops_client.get(task_url(job["jobId"], "d")).content.decode()
    queued = ops_client.get(task_url(job["jobId"], "a")).content.decode()

    assert "Waiting for" in pending
    assert "<code>b</code></a> (pending)" in pending and "<code>c</code></a> (pending)" in pending
    assert "Queued since" in queued and "waiting for a free worker" in queued


def test_large_output_is_read_from_s3_and_capped(ops_client, rule_runner):
    job = new_job(tasks=[TaskSpec("big", DEF)])
    text = "x" * (300 * 1024)
    pointer = artifacts.put_text(f"jobs/{job['jobId']}/outputs/big.txt", text)

    def complete_with_ref(message):
        bus.publish([
            worker_event(EventType.TASK_STARTED, message),
            worker_event(EventType.TASK_COMPLETED, message, outputRef=pointer, outputSize=len(text)),
        ])

    drive(rule_runner, act=complete_with_ref)
    html = ops_client.get(task_url(job["jobId"], "big")).content.decode().replace("\xa0", " ")

    assert "Showing the first 200.0 KB of 300.0 KB" in html
    assert "x" * (200 * 1024) in html and "x" * (200 * 1024 + 1) not in html


def test_artifact_link_redirects_to_a_presigned_url(ops_client, rule_runner):
    job = new_job(tasks=[TaskSpec("report", DEF)])
    pointer = artifacts.put_text(f"jobs/{job['jobId']}/tasks/report/attempt-1/report.txt", "hello artifact")

    def complete_with_artifact(message):
        bus.publish([
            worker_event(EventType.TASK_STARTED, message),
            worker_event(EventType.TASK_COMPLETED, message, output="done",
                         artifacts=[{"name": "report.txt", **pointer}]),
        ])

    drive(rule_runner, act=complete_with_artifact)
    page = ops_client.get(task_url(job["jobId"], "report")).content.decode()
    link = reverse("dashboard:artifact", args=[job["jobId"], "report", 0])
    assert f'href="{link}"' in page and "report.txt" in page

    response = ops_client.get(link)

    assert response.status_code == 302
    location = response["Location"]
    assert urlsplit(location).path.endswith(pointer["key"]) and "Signature" in location
    with urllib.request.urlopen(location, timeout=10) as s3_response:  # the emulator on loopback
        assert s3_response.read() == b"hello artifact"
        assert 'filename="report.txt"' in s3_response.headers["Content-Disposition"]
    missing = ops_client.get(reverse("dashboard:artifact", args=[job["jobId"], "report", 1]))
    assert missing.status_code == 404


def test_other_tenants_job_and_unknown_ids_are_not_found(ops_client, rule_runner):
    theirs = new_job("their-secret-job", tenant_id="other-tenant")
    urls = [
        job_url(theirs["jobId"]),
        task_url(theirs["jobId"], "a"),
        reverse("dashboard:artifact", args=[theirs["jobId"], "a", 0]),
        job_url("01UNKNOWNJOB0000000000000"),
        task_url(new_job()["jobId"], "no-such-task"),
    ]
    for url in urls:
        response = ops_client.get(url)
        assert response.status_code == 404, url
        assert b"Not found" in response.content and b"Back to jobs" in response.content
    assert b"their-secret-job" not in ops_client.get(reverse("dashboard:jobs")).content


def test_status_filter_and_cursor_pagination(ops_client, rule_runner, monkeypatch):
    # Given three jobs, the oldest completed, and pages of two
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    tag = uuid.uuid4().hex[:6]
    oldest = new_job(f"oldest-{tag}", tasks=[TaskSpec("a", DEF)])
    drive(rule_runner)
    middle = new_job(f"middle-{tag}")
    newest = new_job(f"newest-{tag}")

    # The completed filter shows the completed job only
    completed = ops_client.get(reverse("dashboard:jobs"), {"status": "completed"}).content.decode()
    assert oldest["jobId"] in completed and middle["jobId"] not in completed and newest["jobId"] not in completed
    running = ops_client.get(reverse("dashboard:jobs"), {"status": "running"}).content.decode()
    assert newest["jobId"] in running and oldest["jobId"] not in running

    # Newest first, two per page; "Older jobs →" carries the cursor to the next page
    first = ops_client.get(reverse("dashboard:jobs"))
    html = first.content.decode()
    assert newest["jobId"] in html and middle["jobId"] in html and oldest["jobId"] not in html
    assert "Older jobs →" in html and first.context["next_url"] and "cursor=" in first.context["next_url"]
    second = ops_client.get(first.context["next_url"]).content.decode()
    assert oldest["jobId"] in second and newest["jobId"] not in second
    assert "← Newest jobs" in second


def test_bad_filter_is_a_clear_400(ops_client, rule_runner):
    response = ops_client.get(reverse("dashboard:jobs"), {"status": "bogus"})
    assert response.status_code == 400 and b"unknown status" in response.content
    response = ops_client.get(reverse("dashboard:jobs"), {"cursor": "not-a-cursor"})
    assert response.status_code == 400 and b"cursor is not valid" in response.content


def test_errors_are_redacted_and_user_text_is_escaped(ops_client, rule_runner):
    job = new_job("<b>bold</b>", tasks=[TaskSpec("a", DEF), TaskSpec("b", DEF, {}, ("a",))])
    failure = {"error": {"message": "auth failed for sk-ant-api03-abcdefghijklmnop", "retryable": False},
               "willRetry": False}

    def act(message):
        if message["taskId"] == "a":
            run_as_worker(message, fail=failure)

    drive(rule_runner, act=act)
    job_page = ops_client.get(job_url(job["jobId"])).content.decode()
    task_page = ops_client.get(task_url(job["jobId"], "a")).content.decode()

    assert "&lt;b&gt;bold&lt;/b&gt;" in job_page and "<b>bold</b>" not in job_page
    for html in (job_page, task_page):
        assert "sk-ant-api03" not in html and "[REDACTED]" in html
    assert "upstream task" in ops_client.get(task_url(job["jobId"], "b")).content.decode()  # skipped, with why


def test_task_definitions_page_lists_definitions(ops_client, aws_stack):
    html = ops_client.get(reverse("dashboard:task-definitions")).content.decode()
    assert f'id="def-{DEF}"' in html and "does nothing" in html
    assert "<summary>Command</summary>" in html and "echo {input.n}" in html


def test_big_job_shows_the_table_without_a_graph(ops_client, rule_runner):
    # A chain keeps a single task queued, so no messages are left behind for other tests
    chain = [TaskSpec("t000", DEF)] + [TaskSpec(f"t{i:03d}", DEF, {}, (f"t{i - 1:03d}",)) for i in range(1, 201)]
    job = new_job(tasks=chain)

    html = ops_client.get(job_url(job["jobId"])).content.decode()

    assert "<svg" not in html and "the graph is drawn for up to 200" in html
    assert 'data-task="t000"' in html and 'data-task="t200"' in html


def test_search_by_name_and_by_id(ops_client, rule_runner, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    tag = uuid.uuid4().hex[:6]
    other = new_job(f"other-{tag}", tasks=[TaskSpec("a", DEF)])
    wanted = [new_job(f"nightly-{tag}-{i}", tasks=[TaskSpec("a", DEF)]) for i in range(5)]
    drive(rule_runner)

    # By name (contains), newest first, a page at a time; the cursor carries the search
    first = ops_client.get(reverse("dashboard:jobs"), {"q": f"nightly-{tag}"})
    html = first.content.decode()
    assert [j["jobId"] for j in first.context["jobs"]] == [wanted[4]["jobId"], wanted[3]["jobId"]]
    assert f'value="nightly-{tag}"' in html and "q=nightly" in first.context["next_url"]
    seen, url = [], first.context["next_url"]
    while url:
        page = ops_client.get(url)
        seen += [j["jobId"] for j in page.context["jobs"]]
        url = page.context["next_url"]
    assert seen == [wanted[i]["jobId"] for i in (2, 1, 0)] and other["jobId"] not in seen
    # With a status filter too
    assert wanted[0]["jobId"] not in ops_client.get(reverse("dashboard:jobs"),
                                                    {"q": f"nightly-{tag}", "status": "running"}).content.decode()
    # By id: exactly that job
    by_id = ops_client.get(reverse("dashboard:jobs"), {"q": other["jobId"].lower()}).content.decode()
    assert other["jobId"] in by_id and wanted[0]["jobId"] not in by_id
    assert "No job named like" in ops_client.get(reverse("dashboard:jobs"), {"q": f"zz-{tag}"}).content.decode()


def test_counts_per_status(ops_client, rule_runner):
    before = ops_client.get(reverse("dashboard:jobs")).context["counts"]
    new_job(tasks=[TaskSpec("a", DEF)])
    drive(rule_runner)
    new_job(tasks=[TaskSpec("a", DEF)])

    response = ops_client.get(reverse("dashboard:jobs"))
    counts = response.context["counts"]
    assert counts["completed"]["count"] == before["completed"]["count"] + 1
    assert counts["running"]["count"] == before["running"]["count"] + 1
    assert f'data-count="running">{counts["running"]["count"]}<' in response.content.decode()
    # The counts refresh on their own (every 10 s), the rows every 3 s without counting
    assert 'id="job-counts"' in ops_client.get(reverse("dashboard:jobs"), HTTP_HX_TARGET="job-counts", **HTMX
                                                ).content.decode()
    rows = ops_client.get(reverse("dashboard:jobs"), HTTP_HX_TARGET="job-rows", **HTMX)
    assert "counts" not in rows.context and b'id="job-counts"' not in rows.content
    take_task_messages()


def test_htmx_request_with_an_expired_session_redirects_the_whole_page(client, aws_stack):
    page = "/dashboard/?status=running"
    response = client.get(reverse("dashboard:jobs"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-rows",
                          HTTP_HX_CURRENT_URL=f"http://testserver{page}")
    assert response.status_code == 204 and response.content == b""
    assert response["HX-Redirect"] == "/accounts/login/?next=/dashboard/%3Fstatus%3Drunning"
    assert client.get(reverse("dashboard:jobs")).status_code == 302  # a plain request: the usual redirect


def test_every_url_carries_the_path_prefix(ops_client, rule_runner):
    """Served under an API Gateway stage (the app mounted at /prod through WSGI, as
    Zappa mounts it): links, forms, htmx URLs, redirects and static files all start with /prod."""
    job = new_job()
    cookies = {"sessionid": ops_client.cookies["sessionid"].value}
    pages = [reverse("dashboard:jobs"), job_url(job["jobId"]), task_url(job["jobId"], "a"),
             reverse("dashboard:task-definitions"), reverse("dashboard:task-definition", args=[DEF]),
             reverse("dashboard:task-definition-new"), reverse("dashboard:health"),
             reverse("dashboard:job-add-tasks", args=[job["jobId"]])]
    for path in pages:
        assert not path.startswith(PREFIX)
        status, _, html = call(PREFIX + path, cookies=cookies)
        assert status == 200, path
        urls = [u for attr in ("href", "action", "hx-get", "hx-post", "src") for u in re.findall(rf'{attr}="(/[^"]*)"', html)]
        assert len(urls) > 5, path
        assert [u for u in urls if not u.startswith(PREFIX + "/")] == [], path
        assert call(PREFIX + "/static/dashboard/dashboard.css")[0] == 200 or "whitenoise" not in str(settings.MIDDLEWARE)
    # Redirects: after an action, and to the login page (htmx: in HX-Redirect), keep the prefix
    token = "x" * 32
    status, headers, _ = call(PREFIX + reverse("dashboard:job-cancel", args=[job["jobId"]]), method="POST",
                              cookies={**cookies, "csrftoken": token}, headers={"X-CSRFToken": token})
    assert status == 302 and headers["Location"] == PREFIX + job_url(job["jobId"])
    status, headers, _ = call(PREFIX + "/dashboard/?status=running")
    assert status == 302 and headers["Location"] == f"{PREFIX}/accounts/login/?next={PREFIX}/dashboard/%3Fstatus%3Drunning"
    status, headers, _ = call(PREFIX + "/dashboard/", headers={"HX-Request": "true",
                                                              "HX-Current-URL": f"http://testserver{PREFIX}/dashboard/"})
    assert status == 204 and headers["HX-Redirect"] == f"{PREFIX}/accounts/login/?next={PREFIX}/dashboard/"
    take_task_messages()
