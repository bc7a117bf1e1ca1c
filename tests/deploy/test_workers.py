"""Workers in production: the process-manager configs and run_worker's own limits."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading

import pytest
from django.core.management import load_command_class

from consumer.limits import rss_bytes, start_watchdog

from .conftest import ROOT

WORKERS = ROOT / "deploy" / "workers"


def _stopped_within(seconds: float, **limits) -> bool:
    stopped = threading.Event()
    start_watchdog(interval=0.05, stop=stopped.set, **limits)
    return stopped.wait(seconds)


def test_watchdog_stops_the_worker_past_its_lifetime():
    assert _stopped_within(30, max_memory_mb=None, max_lifetime_seconds=0.2)


def test_watchdog_stops_the_worker_past_its_memory_cap_only():
    # Given a worker whose memory readings are under the cap twice, then over it
    readings = [99 * 2**20, 99 * 2**20, 101 * 2**20]
    taken: list[int] = []

    def measure() -> int:
        taken.append(readings[min(len(taken), len(readings) - 1)])
        return taken[-1]

    # When the watchdog watches it; Then it stops the worker once, at the first reading over the cap
    assert _stopped_within(30, max_memory_mb=100, max_lifetime_seconds=None, measure=measure)
    assert taken == readings


def test_no_limits_no_watchdog():
    assert start_watchdog(max_memory_mb=None, max_lifetime_seconds=None) is None


def test_memory_counts_the_task_processes_too():
    before = rss_bytes()
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; b = bytearray(80 * 2**20); "
                              "b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        assert rss_bytes() - before > 60 * 2**20
    finally:
        child.kill()
        child.wait()


@pytest.mark.django_db
def test_run_worker_exits_by_itself_at_its_lifetime(aws_stack):
    # Given a worker with a 1 s lifetime; When it reaches it; Then it shuts down warm and exits 0
    done = subprocess.run([sys.executable, "manage.py", "run_worker", "--wait-seconds", "1", "--max-lifetime", "1"],
                          cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "lifetime of 1s reached" in done.stdout + done.stderr


def _run_worker_args(command: str) -> list[str]:
    words = shlex.split(command)
    return words[words.index("run_worker") + 1:]


def test_every_config_runs_three_restartable_capped_workers_with_valid_options():
    parser = load_command_class("consumer", "run_worker").create_parser("manage.py", "run_worker")

    unit = (WORKERS / "job-manager-worker@.service").read_text()
    service = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    assert service["Restart"] == "always" and service["MemoryMax"] == "1536M"
    assert "--max-memory 1024" in service["ExecStart"]
    assert service["StandardOutput"].startswith("append:/var/log/job-manager/")
    parser.parse_args(_run_worker_args(service["ExecStart"]))
    timer = (WORKERS / "job-manager-worker-restart.timer").read_text()
    assert "OnCalendar=*-*-* 02:00:00" in timer
    assert "try-restart job-manager-worker@*.service" in (WORKERS / "job-manager-worker-restart.service").read_text()

    supervisor = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    supervisor.read(WORKERS / "supervisor.conf")
    program = supervisor["program:job-manager-worker"]
    assert program["numprocs"] == "3" and program["autorestart"] == "true" and program["stopsignal"] == "TERM"
    assert program["stdout_logfile"].startswith("/var/log/job-manager/")
    inner = shlex.split(program["command"])[-1]  # sh -c '...; exec ... run_worker ...'
    options = parser.parse_args(_run_worker_args(inner.split("exec ", 1)[1]))
    assert (options.max_memory, options.max_lifetime) == (1024, 86400)

    pm2 = (WORKERS / "ecosystem.config.cjs").read_text()
    for setting in ("instances: 3", "max_memory_restart: '1G'", "cron_restart: '0 2 * * *'",
                    "error_file: '.output/logs/err.log'", "out_file: '.output/logs/out.log'"):
        assert setting in pm2
    parser.parse_args(_run_worker_args(re.search(r"args: '([^']*)'", pm2).group(1)))


def test_example_environment_names_the_seed_settings():
    names = {line.split("=", 1)[0] for line in (WORKERS / "worker.env.example").read_text().splitlines()
             if line and not line.startswith("#")}
    assert {"SQS_QUEUE_URL", "EVENTBRIDGE_BUS_NAME", "TASK_DEFINITIONS_TABLE", "S3_BUCKET", "MAX_MESSAGES",
            "WAIT_TIME_SECONDS", "VISIBILITY_EXTENSION_INTERVAL", "CLAUDE_MODEL", "TENANT_ID"} <= names


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    # Given the units as installed: one worker instance, its python where the unit expects it
    unit = (WORKERS / "job-manager-worker@.service").read_text()
    assert "/opt/job-manager/.venv/bin/python " in unit
    (tmp_path / "job-manager-worker@1.service").write_text(unit.replace("/opt/job-manager/.venv/bin/python",
                                                                       sys.executable))
    for name in ("job-manager-worker-restart.service", "job-manager-worker-restart.timer"):
        shutil.copy(WORKERS / name, tmp_path / name)
    # When systemd verifies them; Then it knows every setting (an unknown key is only a warning)
    done = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    calendar = subprocess.run(["systemd-analyze", "calendar", "*-*-* 02:00:00"], capture_output=True, text=True)
    assert "Normalized form: *-*-* 02:00:00" in calendar.stdout


@pytest.mark.skipif(not shutil.which("node"), reason="Node.js is not installed")
def test_pm2_file_is_the_seeds_ecosystem_running_run_worker():
    done = subprocess.run(["node", "-e", "console.log(JSON.stringify(require(process.argv[1])))",
                           str(WORKERS / "ecosystem.config.cjs")], capture_output=True, text=True, check=True)
    (app,) = json.loads(done.stdout)["apps"]
    assert {k: app[k] for k in ("instances", "max_memory_restart", "max_restarts", "min_uptime", "restart_delay",
                                "cron_restart", "error_file", "out_file", "merge_logs")} == {
        "instances": 3, "max_memory_restart": "1G", "max_restarts": 10, "min_uptime": "10s", "restart_delay": 5000,
        "cron_restart": "0 2 * * *", "error_file": ".output/logs/err.log", "out_file": ".output/logs/out.log",
        "merge_logs": True}
    assert (app["script"], app["interpreter"]) == ("manage.py", ".venv/bin/python")
    parser = load_command_class("consumer", "run_worker").create_parser("manage.py", "run_worker")
    words = shlex.split(app["args"])
    assert words[0] == "run_worker" and parser.parse_args(words[1:]).max_memory == 1024
