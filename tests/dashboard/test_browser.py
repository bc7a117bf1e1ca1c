"""The dashboard in a real (headless) Chromium: log in through the form, watch a job run
to completion without reloading the page, read a task's output, retry a failed task,
cancel a job, create and edit a task definition. Every test runs twice: with the app at
the server's root and mounted under /prod (an API Gateway stage). Screenshots go to a
temporary folder; with UPDATE_SCREENSHOTS=1 they refresh docs/screenshots/ (the README's)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from jobmanager.aws import bus
from jobmanager.domain.events import EventType
from jobmanager.domain.model import TaskSpec
from tests.helpers import run_as_worker, take_task_messages, worker_event

from .conftest import DEF, drive, new_job
from .prefix import PREFIX, prefixed_static_handler

CHROMIUM = "/usr/bin/chromium"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 20_000  # polling is every 2-3 s; leave room for a slow machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.usefixtures("echo_definition"),
]


@pytest.fixture
def browser_page(monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; Django would otherwise
    # refuse the ORM calls of the test's teardown (flushing the database).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        yield page, sync_api.expect
        browser.close()


@pytest.fixture(scope="session")
def prod_server():
    """A second live server with the app mounted under /prod (prefix.py)."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("localhost", start=False)
    server.thread.static_handler = prefixed_static_handler
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["", PREFIX], ids=["root", "prefix-prod"])
def site(request) -> str:
    """The dashboard's base URL: the app at the server's root, or under /prod."""
    if request.param:
        return request.getfixturevalue("prod_server").url + request.param
    return request.getfixturevalue("live_server").url


@pytest.fixture
def screenshots(tmp_path, request) -> Path:
    # The root run refreshes the README's pictures; the /prod run's are the same pages.
    prefixed = "site" in request.fixturenames and request.getfixturevalue("site").endswith(PREFIX)
    return DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" and not prefixed else tmp_path


def sign_in(page, expect, site: str, path: str = "/dashboard/") -> None:
    page.goto(f"{site}{path}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")


def test_watch_a_job_complete_without_reloading(site, transactional_db, django_user_model,
                                                rule_runner, browser_page, screenshots):
    page, expect = browser_page
    screenshots.mkdir(parents=True, exist_ok=True)
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    job = new_job("browser-diamond")

    # Log in through the real form (the dashboard sends anonymous users there)
    sign_in(page, expect, site)

    # The jobs list shows the running job
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    row = page.locator(f'tr[data-job="{job["jobId"]}"]')
    expect(row.locator(".badge")).to_have_text("running")
    page.screenshot(path=str(screenshots / "jobs.png"), full_page=True)

    # Open the job: the graph and the table show every task
    row.get_by_role("link", name="browser-diamond").click()
    expect(page.locator("#job-status")).to_have_text("running")
    for task_id in "abcd":
        expect(page.locator(f'[data-node="{task_id}"]')).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded

    # When a worker completes 'a' and starts 'b' (in this thread), the page follows
    (a,) = take_task_messages()
    run_as_worker(a, output="out-a")
    rule_runner.drain()
    queued = take_task_messages()
    b = next(m for m in queued if m["taskId"] == "b")
    bus.publish([worker_event(EventType.TASK_STARTED, b)])
    rule_runner.drain()
    expect(page.locator('tr[data-task="b"] .task-status')).to_have_text("running")
    expect(page.locator('tr[data-task="c"] .task-status')).to_have_text("queued")
    page.screenshot(path=str(screenshots / "job-running.png"), full_page=True)

    # ...and once every task is done, the job and each task read "completed"
    for message in queued:
        run_as_worker(message, output=f"out-{message['taskId']}")
    rule_runner.drain()
    drive(rule_runner)
    expect(page.locator("#job-status")).to_have_text("completed")
    for task_id in "abcd":
        expect(page.locator(f'tr[data-task="{task_id}"] .task-status')).to_have_text("completed")
        expect(page.locator(f'[data-node="{task_id}"] .node-status')).to_have_text("completed")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    page.screenshot(path=str(screenshots / "job.png"), full_page=True)

    # Open a task and read its output
    page.locator('tr[data-task="d"]').get_by_role("link", name="d").click()
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.locator("#output")).to_have_text("out-d")  # rendered from Markdown
    expect(page.get_by_text("Task Completed")).to_be_visible()
    page.screenshot(path=str(screenshots / "task.png"), full_page=True)


def test_an_expired_session_sends_the_page_to_login(site, transactional_db, django_user_model, browser_page):
    page, expect = browser_page
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    sign_in(page, expect, site, "/dashboard/?status=running")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    prefix = PREFIX if site.endswith(PREFIX) else ""
    assert page.locator("link[rel=stylesheet]").get_attribute("href").startswith(f"{prefix}/static/")
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor") == "rgb(17, 24, 39)"

    # When the session goes away, the next poll (every 3 s) is redirected to the login page
    page.context.clear_cookies()

    # Then the whole page goes there (htmx follows HX-Redirect), and comes back to the
    # same list after signing in
    expect(page).to_have_url(re.compile(re.escape(site) + r"/accounts/login/\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    assert page.url == f"{site}/dashboard/?status=running"


def test_retry_a_failed_task_then_cancel_the_job(site, transactional_db, django_user_model, rule_runner,
                                                 browser_page, screenshots):
    page, expect = browser_page
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    job = new_job("browser-retry", tasks=[TaskSpec("a", DEF), TaskSpec("b", DEF), TaskSpec("c", DEF, {}, ("a",))])
    failure = {"error": {"message": "flaky upstream", "retryable": False}, "willRetry": False}
    messages = {m["taskId"]: m for m in take_task_messages()}
    run_as_worker(messages["a"], fail=failure)  # a fails (c is skipped); b stays queued
    rule_runner.drain()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))

    sign_in(page, expect, site, f"/dashboard/jobs/{job['jobId']}/tasks/a/")
    expect(page.locator("#task-status")).to_have_text("failed")
    page.screenshot(path=str(screenshots / "task-failed.png"), full_page=True)

    # Retry: confirmed in a dialog, then the task is queued again as attempt 2
    page.get_by_role("button", name="Retry task").click()
    expect(page.locator(".messages")).to_contain_text("Task a retried: attempt 2 is queued")
    expect(page.locator("#task-status")).to_have_text("queued")
    assert dialogs and dialogs[-1].startswith("Retry task a?")

    # Cancel the job from its page: confirmed, then every unfinished task is cancelled
    page.get_by_role("link", name="browser-retry").first.click()
    expect(page.locator("#job-status")).to_have_text("running")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator(".messages")).to_contain_text("Job cancelled")
    expect(page.locator("#job-status")).to_have_text("cancelled")
    for task_id in "abc":
        expect(page.locator(f'tr[data-task="{task_id}"] .task-status')).to_have_text("cancelled")
    assert dialogs[-1].startswith("Cancel job browser-retry?")
    take_task_messages()


def test_create_and_edit_a_task_definition(site, transactional_db, django_user_model, browser_page, screenshots):
    page, expect = browser_page
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    name = f"browser-def-{uuid.uuid4().hex[:6]}"
    sign_in(page, expect, site)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Task definitions").click()
    page.get_by_role("link", name="New task definition").click()
    page.fill("#id_name", name)
    page.fill("#id_description", "a haiku")
    page.fill("#id_instructions", "A haiku about {input.topic}.")
    page.fill("#id_sample_input", '{"topic": "moss"}')
    page.get_by_role("button", name="Preview").click()  # htmx: the form as it is, not saved
    expect(page.locator("#preview-output")).to_have_text("A haiku about moss.")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text(f"Task definition {name} created: version 1.")

    # Edit: a bad placeholder is refused with the API's message, a good one makes version 2
    page.fill("#id_instructions", "Two haiku about {input.topic!r}.")
    page.get_by_role("button", name="Save a new version").click()
    expect(page.locator("#form-errors")).to_contain_text("malformed placeholder")
    page.fill("#id_instructions", "Two haiku about {input.topic}.")
    page.get_by_role("button", name="Save a new version").click()
    expect(page.locator(".messages")).to_contain_text("version 2")
    expect(page.locator("#current-version")).to_have_text("version 2")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    page.fill("#id_sample_input", '{"topic": "moss"}')
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-output")).to_have_text("Two haiku about moss.")
    page.screenshot(path=str(screenshots / "task-definition.png"), full_page=True)
