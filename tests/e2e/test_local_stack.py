"""End to end: a fan-out/fan-in job submitted over real HTTP, run by a real worker
process and the real handlers against the emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from api.models import ApiKey
from jobmanager.config import BASE_DIR
from jobmanager.store.events_table import get_event_store

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STAMP = [
    "python", "-c",
    "import json, os, pathlib; ctx = json.loads(pathlib.Path(os.environ['JOBMANAGER_CONTEXT']).read_text());"
    "print(json.dumps({'task': os.environ['TASK_ID'], 'saw': sorted(ctx['upstream'])}))",
]
FAN = [
    {"taskId": "root", "taskDefinition": "e2e-stamp"},
    *({"taskId": f"leaf-{i}", "taskDefinition": "e2e-stamp", "dependsOn": ["root"]} for i in range(4)),
    {"taskId": "join", "taskDefinition": "e2e-stamp", "dependsOn": [f"leaf-{i}" for i in range(4)]},
    {"taskId": "after", "taskDefinition": "e2e-stamp", "dependsOn": ["join", "root"]},
]


def http(method: str, url: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"x-api-key": key, "content-type": "application/json",
                                              "accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def worker(aws_stack, tmp_path):
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--concurrency", "3", "--wait-seconds", "1"],
        cwd=BASE_DIR, env={**os.environ, "WORKER_ID": "e2e-worker"}, stdout=log, stderr=subprocess.STDOUT,
    )
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        print(Path(log.name).read_text()[-5000:])


def test_fan_out_fan_in_job_runs_every_task_once_in_order(aws_stack, live_server, rule_runner, worker):
    # Given the handlers delivering events, a worker process, and an API key
    rule_runner.start()
    _, key = ApiKey.issue(name="e2e", tenant_id=aws_stack["TENANT_ID"])
    base = live_server.url
    status, _ = http("PUT", f"{base}/task-definitions/e2e-stamp", key, {"kind": "command", "command": STAMP})
    assert status in (200, 201)

    # When a fan-out/fan-in job is submitted over HTTP
    status, created = http("POST", f"{base}/jobs", key, {"name": "e2e fan", "tasks": FAN})
    assert status == 201, created
    job_id = created["jobId"]

    # Then it completes
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, job = http("GET", f"{base}/jobs/{job_id}", key)
        if job["status"] != "running":
            break
        time.sleep(0.5)
    assert job["status"] == "completed", job
    assert {t["taskId"]: t["status"] for t in job["tasks"]} == {t["taskId"]: "completed" for t in FAN}

    # And every task ran exactly once, after all of its dependencies completed (read once the
    # runner has delivered every event: the log trails the projections)
    deadline = time.monotonic() + 30
    while not rule_runner.idle():
        assert time.monotonic() < deadline, "the rule runner never caught up"
        time.sleep(0.2)
    events = []
    cursor = None
    while True:
        page = get_event_store().job_events(job_id, limit=100, cursor=cursor)
        events += page.items
        if not (cursor := page.next_cursor):
            break
    started = {e["taskId"]: e["eventId"] for e in events if e["eventType"] == "Task Started"}
    completed = {e["taskId"]: e["eventId"] for e in events if e["eventType"] == "Task Completed"}
    for spec in FAN:
        task_id = spec["taskId"]
        runs = [e for e in events if e["eventType"] == "Task Started" and e["taskId"] == task_id]
        assert len(runs) == 1, f"{task_id} started {len(runs)} times"
        for dep in spec.get("dependsOn", []):
            assert completed[dep] < started[task_id], f"{task_id} started before {dep} completed"
    assert [e["eventType"] for e in events].count("Job Completed") == 1

    # And each task saw exactly its dependencies' outputs
    outputs = {t["taskId"]: json.loads(t["output"]) for t in job["tasks"]}
    assert outputs["join"]["saw"] == [f"leaf-{i}" for i in range(4)]
    assert outputs["after"]["saw"] == ["join", "root"]

    # And the job is listed
    status, listing = http("GET", f"{base}/jobs?limit=5", key)
    assert job_id in [j["jobId"] for j in listing["jobs"]]
