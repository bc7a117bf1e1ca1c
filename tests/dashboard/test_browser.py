"""The dashboard in a real (headless) Chromium: log in through the form, watch a job run
to completion without reloading the page, read a task's output. Screenshots go to a
temporary folder; with UPDATE_SCREENSHOTS=1 they refresh docs/screenshots/ (the README's)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from jobmanager.aws import bus
from jobmanager.domain.events import EventType
from tests.helpers import run_as_worker, take_task_messages, worker_event

from .conftest import drive, new_job

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


@pytest.fixture
def screenshots(tmp_path) -> Path:
    return DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


def test_watch_a_job_complete_without_reloading(live_server, transactional_db, django_user_model,
                                                rule_runner, browser_page, screenshots):
    page, expect = browser_page
    screenshots.mkdir(parents=True, exist_ok=True)
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    job = new_job("browser-diamond")

    # Log in through the real form (the dashboard sends anonymous users there)
    page.goto(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")

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
    expect(page.locator("#output")).to_have_text("out-d")
    expect(page.get_by_text("Task Completed")).to_be_visible()
    page.screenshot(path=str(screenshots / "task.png"), full_page=True)


def test_an_expired_session_sends_the_page_to_login(live_server, transactional_db, django_user_model,
                                                    browser_page):
    page, expect = browser_page
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    page.goto(f"{live_server.url}/dashboard/?status=running")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()

    # When the session goes away, the next poll (every 3 s) is redirected to the login page
    page.context.clear_cookies()

    # Then the whole page goes there, and comes back to the same list after signing in
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    assert page.url.endswith("/dashboard/?status=running")
