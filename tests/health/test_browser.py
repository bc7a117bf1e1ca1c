"""The health page in a real (headless) Chromium: a stuck task shows up under "critical",
its alert appears once the scheduled check runs, and it leaves the page when it finishes,
all without reloading. UPDATE_SCREENSHOTS=1 refreshes docs/screenshots/health.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdas import health_check
from tests.dashboard.test_browser import (  # noqa: F401 (fixtures)
    CHROMIUM, browser_page, prod_server, screenshots, site,
)
from tests.helpers import run_as_worker

from .conftest import start, submit

LIVE_MS = 15_000  # the page polls every 5 s: allow a few polls on a slow machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def test_the_health_page_shows_a_stuck_task(site, transactional_db, django_user_model, checked_tenant,
                                           slack_off, rule_runner, browser_page, screenshots):  # noqa: F811
    page, expect = browser_page
    screenshots.mkdir(parents=True, exist_ok=True)
    django_user_model.objects.create_user(username="operator", password="a-long-test-password")
    # Given a task whose worker went silent 100 s ago (2-minute timeout), and a healthy one
    job = submit(checked_tenant, name="nightly-report", task_ids=("stuck", "fine"))
    job_id = job["job"]["jobId"]
    start(rule_runner, job["messages"]["stuck"], ago=100, worker="worker-dead")
    start(rule_runner, job["messages"]["fine"], worker="worker-alive")

    # When an operator signs in and opens the health page from the menu
    page.goto(f"{site}/dashboard/")  # at the root, and under /prod
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Health").click()

    # Then the stuck task is listed as critical, with the worker, elapsed vs timeout and why
    expect(page.get_by_role("heading", name="Health", exact=True)).to_be_visible()
    stuck = page.locator(f'table[data-level="critical"] tr[data-task="{job_id}/stuck"]')
    expect(stuck).to_be_visible()
    expect(stuck).to_contain_text("worker-dead")
    expect(stuck).to_contain_text("/ 2m 00s")
    expect(stuck).to_contain_text("the worker is probably gone")
    expect(page.locator(f'table[data-level="healthy"] tr[data-task="{job_id}/fine"]')).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded

    # When the scheduled check runs, the alert appears in "Recent alerts" without a reload
    health_check.handler({}, None)
    rule_runner.drain()
    alert = page.locator(f'table.alerts tr[data-task="{job_id}/stuck"]')
    expect(alert).to_contain_text("critical", timeout=LIVE_MS)
    expect(alert).to_contain_text("off")  # Slack is off in this test: recorded, shown, not posted
    page.screenshot(path=str(screenshots / "health.png"), full_page=True)

    # And once the stuck task finishes after all, it leaves the running tasks
    run_as_worker(job["messages"]["stuck"])
    rule_runner.drain()
    expect(stuck).to_have_count(0, timeout=LIVE_MS)
    expect(page.locator('[data-count="critical"]')).to_have_text("0 critical")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
