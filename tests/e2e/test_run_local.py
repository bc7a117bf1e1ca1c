"""The README's first command, for real: run_local brings the stack up, runs the example
job to completion with its report downloadable, and Ctrl-C stops every process."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from jobmanager.config import BASE_DIR
from jobmanager.local.supervisor import port_is_free
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


class Output:
    """Collects a process's output lines in the background."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines[-60:]))


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def call(base: str, method: str, path: str, key: str | None, body: bytes | None = None) -> tuple[int, dict]:
    headers = {"accept": "application/json", "content-type": "application/json"}
    if key:
        headers["x-api-key"] = key
    request = urllib.request.Request(base + path, method=method, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for_job(base: str, key: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, job = call(base, "GET", f"/jobs/{job_id}", key)
        if job["status"] != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def start_run_local(tmp_path, web: int, aws: int) -> tuple[subprocess.Popen, Output]:
    # A user's shell: none of the test session's stack settings leak in.
    stack_vars = ("AWS_", "DJANGO_", "STAGE", "TENANT_ID", "EVENT", "TASK_", "SQS_", "S3_", "WORK_ROOT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(stack_vars)}
    env.update({"JOBMANAGER_DATA_DIR": str(tmp_path / "data"), "WORK_ROOT": str(tmp_path / "work"),
                "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_local", "--port", str(web), "--aws-port", str(aws)],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, Output(proc.stdout)


def stop_run_local(proc: subprocess.Popen, out: Output, *, presses: int = 1) -> None:
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    finally:
        print("\n".join(out.lines[-80:]))


def logged_in(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    """A cookie-keeping client logged in to the dashboard through its real login form."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    browser.open(f"{base}/accounts/login/", timeout=10).read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf}).encode()
    browser.open(urllib.request.Request(f"{base}/accounts/login/", data=form,
                                        headers={"Referer": f"{base}/accounts/login/"}), timeout=10).read()
    return browser


def download_report(browser: urllib.request.OpenerDirector, base: str, job_id: str) -> str:
    task_page = browser.open(f"{base}/dashboard/jobs/{job_id}/tasks/report/", timeout=10).read().decode()
    link = re.search(r'href="([^"]*/artifacts/0/)"', task_page).group(1)
    return browser.open(urllib.parse.urljoin(base, link), timeout=10).read().decode()


def test_run_local_runs_the_example_job_and_stops_cleanly(tmp_path):
    web, aws = free_port(), free_port()
    proc, out = start_run_local(tmp_path, web, aws)
    try:
        key = out.wait_for(r"API key:\s+(jm_\S+)", timeout=120).group(1)
        login = out.wait_for(r"Login:\s+(\S+) / (\S+)", timeout=5)
        job_id = out.wait_for(r"dashboard/jobs/(\w+)/", timeout=5).group(1)
        base = f"http://127.0.0.1:{web}"

        # The example job completes, every task completed, listed by the API
        job = wait_for_job(base, key, job_id)
        assert job["status"] == "completed", job
        assert len(job["tasks"]) == 5 and {t["status"] for t in job["tasks"]} == {"completed"}
        listing = urllib.request.Request(f"{base}/jobs", headers={"x-api-key": key, "accept": "application/json"})
        assert job_id in [j["jobId"] for j in json.loads(urllib.request.urlopen(listing, timeout=10).read())["jobs"]]
        report = next(t for t in job["tasks"] if t["taskId"] == "report")
        assert [a["name"] for a in report["artifacts"]] == ["report.md"]

        # The dashboard (after a real login) shows it completed, and the report downloads
        browser = logged_in(base, login.group(1), login.group(2))
        page = browser.open(f"{base}/dashboard/jobs/{job_id}/", timeout=10).read().decode()
        assert "completed" in page and "report" in page
        assert download_report(browser, base, job_id).startswith("# Job manager: repository report")

        # A worker that dies is restarted (the stack keeps running), and posting the same JSON
        # again runs it to completion
        (worker_pid,) = [pid for pid in children_of(proc.pid) if b"run_worker" in cmdline(pid)]
        os.kill(worker_pid, signal.SIGKILL)
        out.wait_for(r"worker-1 exited unexpectedly \(code -9\); restarting it", timeout=15)
        example = (BASE_DIR / "examples" / "jobs" / "repo-report.json").read_bytes()
        status, again = call(base, "POST", "/jobs", key, example)
        assert status == 201, again
        assert wait_for_job(base, key, again["jobId"])["status"] == "completed"

        # A cycle is refused with its path; a missing or wrong key is refused
        cyclic = {"name": "cyclic", "tasks": [
            {"taskId": "x", "taskDefinition": "repo-inventory", "dependsOn": ["y"]},
            {"taskId": "y", "taskDefinition": "repo-inventory", "dependsOn": ["x"]}]}
        status, refused = call(base, "POST", "/jobs", key, json.dumps(cyclic).encode())
        assert status == 400 and refused["details"]["cycle"] in (["x", "y", "x"], ["y", "x", "y"])
        assert call(base, "GET", "/jobs", None)[0] == 401
        assert call(base, "GET", "/jobs", "jm_not-a-key")[0] == 403
        _, jobs = call(base, "GET", "/jobs?limit=100", key)
        assert "cyclic" not in [j["name"] for j in jobs["jobs"]]
    finally:
        # Ctrl-C: everything stops, nothing is left listening
        stop_run_local(proc, out)
    assert proc.returncode == 0
    assert out.wait_for(r"\[run_local\] stopped", timeout=5)
    assert port_is_free(web) and port_is_free(aws)


def test_a_restart_keeps_every_job_and_artifact_and_finishes_interrupted_work(tmp_path):
    # Given a first run: the example job completed, and a second job stopped mid-task by a
    # double Ctrl-C (its running task killed, its successor never queued)
    web, aws = free_port(), free_port()
    proc, out = start_run_local(tmp_path, web, aws)
    base = f"http://127.0.0.1:{web}"
    try:
        key = out.wait_for(r"API key:\s+(jm_\S+)", timeout=120).group(1)
        example_id = out.wait_for(r"dashboard/jobs/(\w+)/", timeout=5).group(1)
        assert wait_for_job(base, key, example_id)["status"] == "completed"
        slow = {"kind": "command", "command": ["python", "-c", "import time; time.sleep(4); print('slept')"]}
        assert call(base, "PUT", "/task-definitions/slow", key, json.dumps(slow).encode())[0] in (200, 201)
        edited = {**json.loads((BASE_DIR / "examples" / "task-definitions" / "repo-inventory.json").read_text()),
                  "description": "edited by the user"}
        assert call(base, "PUT", "/task-definitions/repo-inventory", key, json.dumps(edited).encode())[0] == 200
        status, job = call(base, "POST", "/jobs", key, json.dumps({"name": "interrupted", "tasks": [
            {"taskId": "first", "taskDefinition": "slow"},
            {"taskId": "then", "taskDefinition": "slow", "dependsOn": ["first"]}]}).encode())
        assert status == 201, job
        deadline = time.monotonic() + 30
        while call(base, "GET", f"/jobs/{job['jobId']}", key)[1]["tasks"][0]["status"] != "running":
            assert time.monotonic() < deadline, "the first task never started"
            time.sleep(0.2)
    finally:
        stop_run_local(proc, out, presses=2)
    assert out.wait_for(r"saved \d+ items of the events table", timeout=5)

    # When the stack starts again on the same data folder
    web, aws = free_port(), free_port()
    proc, out = start_run_local(tmp_path, web, aws)
    base = f"http://127.0.0.1:{web}"
    try:
        assert out.wait_for(r"restored the saved data", timeout=120)
        assert out.wait_for(r"1 interrupted task\(s\) sent as their next attempt", timeout=60)
        login = out.wait_for(r"Login:\s+(\S+) / (\S+)", timeout=60)
        assert out.wait_for(r"API key:\s+(jm_\S+)", timeout=5).group(1) == key  # same key

        # Then the interrupted job finishes: its task ran again as attempt 2, its successor once
        finished = wait_for_job(base, key, job["jobId"])
        assert finished["status"] == "completed", finished
        tasks = {t["taskId"]: t for t in finished["tasks"]}
        assert (tasks["first"]["attempt"], tasks["then"]["attempt"]) == (2, 1)
        # ... no example was submitted again, and the earlier job and its artifact are all there
        _, jobs = call(base, "GET", "/jobs?limit=100", key)
        assert sorted(j["name"] for j in jobs["jobs"]) == ["Repository report", "interrupted"]
        assert call(base, "GET", f"/jobs/{example_id}", key)[1]["status"] == "completed"
        browser = logged_in(base, login.group(1), login.group(2))
        assert download_report(browser, base, example_id).startswith("# Job manager: repository report")
        definitions = {d["name"]: d for d in call(base, "GET", "/task-definitions", key)[1]["taskDefinitions"]}
        assert "slow" in definitions
        # ... and the example definition the user edited was not overwritten by the seeding
        assert definitions["repo-inventory"]["description"] == "edited by the user"
        assert out.wait_for(r"seeded 0 task definitions from examples/task-definitions/ \(7 already there", timeout=1)
    finally:
        stop_run_local(proc, out)
    assert proc.returncode == 0
