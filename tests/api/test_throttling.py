"""The usage plan (rate + burst, daily quota per API key), counted in DynamoDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest
from rest_framework.test import APIClient

from api import throttling
from api.models import ApiKey
from jobmanager.config import BASE_DIR
from jobmanager.store.throttle import DAY_MS, Window, get_throttle_store, usage_plan_windows
from tests.helpers import django_server, manage

pytestmark = pytest.mark.django_db

NOON = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS + DAY_MS // 2  # a UTC noon, in epoch ms


def test_seed_usage_plan_becomes_a_half_second_burst_window_and_a_day_window():
    burst, day = usage_plan_windows(rate=100, burst=50, quota_per_day=10_000)
    assert burst == Window("burst", 500, 50)  # 50 per 0.5 s: 100/s sustained, never more than 50 at once
    assert day == Window("day", DAY_MS, 10_000)


def test_a_full_window_refuses_until_it_resets(aws_stack):
    store, key = get_throttle_store(), f"k-{uuid.uuid4().hex}"
    windows = [Window("burst", 1000, 3)]
    assert [store.hit(key, windows, now_ms=NOON + i).allowed for i in range(3)] == [True] * 3
    refused = store.hit(key, windows, now_ms=NOON + 250)
    assert not refused.allowed and refused.window == windows[0] and refused.retry_after == 0.75
    assert store.hit(key, windows, now_ms=NOON + 1000).allowed  # the next window
    assert store.hit(f"other-{key}", windows, now_ms=NOON + 250).allowed  # keys don't share counters


def test_a_request_refused_by_the_rate_is_not_charged_to_the_day(aws_stack):
    store, key = get_throttle_store(), f"k-{uuid.uuid4().hex}"
    windows = [Window("day", DAY_MS, 2), Window("burst", 1000, 1)]
    assert store.hit(key, windows, now_ms=NOON).allowed
    assert store.hit(key, windows, now_ms=NOON + 1).window.name == "burst"
    assert store.hit(key, windows, now_ms=NOON + 1000).allowed  # the day still had room for it
    refused = store.hit(key, windows, now_ms=NOON + 2000)
    assert refused.window.name == "day" and refused.retry_after == (DAY_MS / 2 - 2000) / 1000  # to UTC midnight


COUNTER = """
import json, sys
from jobmanager.store.throttle import Window, get_throttle_store
key, now, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = get_throttle_store()
print(json.dumps(sum(store.hit(key, [Window("burst", 60000, 25)], now_ms=now).allowed for _ in range(n))))
"""


def test_processes_share_one_count(aws_stack):
    # Given two processes hitting the same key in the same window (limit 25), 20 times each
    key = f"k-{uuid.uuid4().hex}"
    procs = [
        subprocess.Popen([sys.executable, "-c", COUNTER, key, str(NOON), "20"], cwd=BASE_DIR,
                         env={**os.environ, "PYTHONPATH": str(BASE_DIR)}, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    allowed = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    # Then exactly 25 got through between them: the count is the store's, not a process's
    assert sum(allowed) == 25, allowed


def _get(url: str, key: str) -> tuple[int, str | None]:
    request = urllib.request.Request(url, headers={"x-api-key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After")


def test_two_server_processes_share_each_keys_quota(aws_stack, tmp_path):
    # Given two separate server processes (two Lambda instances, in effect) with a daily
    # quota of 5 per key, and one API key (their shared database, as PostgreSQL is in AWS)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jobmanager.settings",
           "DJANGO_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
           "API_QUOTA_PER_DAY": "5", "API_THROTTLE_RATE": "1000", "API_THROTTLE_BURST": "1000"}
    manage(env, "migrate", "--noinput")
    key = manage(env, "create_api_key", "--name", "two-processes", "--tenant", "test-tenant").strip()
    other = manage(env, "create_api_key", "--name", "another", "--tenant", "test-tenant").strip()
    with django_server(env, tmp_path / "a.log") as a, django_server(env, tmp_path / "b.log") as b:
        # When the key's requests alternate between them
        answers = [_get(f"{url}/task-definitions", key) for url in (a, b) * 3]
        another = _get(f"{b}/task-definitions", other)
    # Then the sixth is refused, by whichever process gets it: the count is shared, not per process
    assert [status for status, _ in answers] == [200] * 5 + [429], answers
    retry_after = answers[-1][1]
    assert retry_after is not None and 0 < int(retry_after) <= DAY_MS // 1000
    assert another[0] == 200  # and it is per key


@pytest.fixture
def small_plan(settings, monkeypatch):
    settings.API_USAGE_PLAN = {"rate": 2, "burst": 2, "quota_per_day": 3}  # 2 per 1 s window, 3 a day
    clock = {"now": NOON}
    monkeypatch.setattr(throttling, "now_ms", lambda: clock["now"])
    return clock


def _client(tenant: str = "test-tenant") -> APIClient:
    _, raw = ApiKey.issue(name=f"throttle-{uuid.uuid4().hex[:6]}", tenant_id=tenant)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def test_api_answers_429_with_retry_after_past_the_burst_then_recovers(aws_stack, small_plan):
    client = _client()
    assert [client.get("/task-definitions").status_code for _ in range(2)] == [200, 200]
    small_plan["now"] += 300
    refused = client.get("/task-definitions")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"  # 0.7 s, rounded up
    assert refused.json()["message"].startswith("rate limit exceeded: 2 requests per 1 s")
    assert _client().get("/task-definitions").status_code == 200  # another key is unaffected
    small_plan["now"] += 1000
    assert client.get("/task-definitions").status_code == 200


def test_api_daily_quota_says_when_it_resets(aws_stack, small_plan):
    client = _client()
    for step in range(3):
        small_plan["now"] += 1000 * step
        assert client.get("/task-definitions").status_code == 200
    small_plan["now"] += 1000
    refused = client.get("/task-definitions")
    assert refused.status_code == 429
    assert refused.json()["message"].startswith("daily quota exceeded")
    assert int(refused["Retry-After"]) == (DAY_MS - (small_plan["now"] % DAY_MS)) // 1000


def test_logged_in_staff_are_not_counted(aws_stack, small_plan, admin_user):
    client = APIClient()
    client.force_login(admin_user)
    assert {client.get("/task-definitions").status_code for _ in range(4)} == {200}


def test_an_unreachable_store_lets_requests_through(aws_stack, small_plan, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    class Down:
        def hit(self, *args, **kwargs):
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(throttling, "get_throttle_store", lambda: Down())
    assert _client().get("/task-definitions").status_code == 200
