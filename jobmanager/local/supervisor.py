"""The whole system on one machine, in the foreground: ``python manage.py run_local``.

Starts, in order: the AWS emulator (a child process), the infra/ stack deployed into it,
the Django app (a child process), the workers (child processes), and — in this process —
the rule runner that delivers each EventBridge rule's events to its ``lambdas/`` handler.
Ctrl-C stops them in reverse order: workers first (they finish what they run), the
emulator last. Each child runs in its own session so the terminal's Ctrl-C reaches only
this supervisor, which decides the order.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from jobmanager.config import BASE_DIR

from .stack import deploy_stack, local_rule_routes, local_sqs_sources, stack_environment

REGION = "eu-west-1"
STAGE = "local"
WORKER_RESTARTS_PER_MINUTE = 5  # past that, something is wrong: stop and say so


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen | None = None, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    stop_signal: int = signal.SIGTERM


@dataclass
class LocalStack:
    web_port: int = 8000
    aws_port: int = 4566
    workers: int = 1
    concurrency: int = 3
    data_dir: Path = field(default_factory=lambda: Path(settings.DATA_DIR))
    children: list[Child] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    verbose_saves: bool = False  # periodic saves are silent; the one on exit is said

    def say(self, message: str, *, quiet: bool = False) -> None:
        if quiet and not self.verbose_saves:
            return
        print(f"[run_local] {message}", flush=True)

    # ── start ────────────────────────────────────────────────────────────────

    def check_ports(self) -> None:
        for port, what, flag in ((self.aws_port, "AWS emulator", "--aws-port"), (self.web_port, "web app", "--port")):
            if not port_is_free(port):
                raise SystemExit(
                    f"error: port {port} ({what}) is in use. Stop whatever uses it (another run_local?) "
                    f"or pick another with {flag}."
                )

    def start_emulator(self) -> str:
        self.say(f"starting the AWS emulator on 127.0.0.1:{self.aws_port}")
        proc = self._spawn("aws-emulator", [sys.executable, "-m", "jobmanager.local.emulator", "--port", str(self.aws_port)],
                           env=os.environ.copy())
        wait_for_port(self.aws_port, timeout=30, proc=proc, what="the AWS emulator")
        return f"http://127.0.0.1:{self.aws_port}"

    def deploy(self, endpoint_url: str, *, tenant: str) -> None:
        self.say("deploying infra/template.yaml into the emulator (SQS, DynamoDB, EventBridge, S3)")
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        outputs = deploy_stack(endpoint_url=endpoint_url, stage=STAGE, region=REGION)
        self.env = {
            **stack_environment(outputs, endpoint_url=endpoint_url, region=REGION, stage=STAGE),
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "TENANT_ID": tenant,
            "DASHBOARD_BASE_URL": f"http://127.0.0.1:{self.web_port}",
            "PYTHONUNBUFFERED": "1",
        }
        os.environ.update(self.env)
        from jobmanager.aws import clients
        from jobmanager.config import get_config

        get_config.cache_clear()
        clients.reset()

    # ── the data folder: tables and artifacts kept across runs ───────────────

    def snapshot(self):
        from .snapshot import Snapshot

        return Snapshot(self.data_dir / "aws", self.env)

    def restore_data(self, *, fresh: bool = False) -> bool:
        """Load what earlier runs saved into the fresh emulator. True if anything was."""
        snapshot = self.snapshot()
        if fresh or not snapshot.exists:
            self.say("starting with empty tables" + (" (--fresh)" if fresh and snapshot.exists else ""))
            return False
        counts = snapshot.restore()
        self.say(f"restored the saved data from {snapshot.folder}: {counts.describe()}")
        return True

    def save_data(self) -> None:
        try:
            counts = self.snapshot().save()
        except Exception as exc:  # keep running (or stopping); the previous copy stays whole
            self.say(f"could not save the data ({exc.__class__.__name__}: {exc}); the previous copy is kept")
            return
        self._saved_at = time.monotonic()
        self.say(f"saved {counts.describe()} to {self.data_dir / 'aws'}", quiet=True)

    def save_data_every(self, interval: float | None = None) -> None:
        from .snapshot import SAVE_INTERVAL_SECONDS

        if time.monotonic() - getattr(self, "_saved_at", 0.0) >= (interval or SAVE_INTERVAL_SECONDS):
            self.save_data()

    def resume_interrupted(self) -> None:
        """The restored jobs' queues are gone: send queued tasks again and running ones as
        their next attempt, so unfinished jobs finish."""
        from jobmanager.services.reconcile import resume_interrupted

        report = resume_interrupted(tenant_ids=[self.env["TENANT_ID"]])
        if any(report.values()):
            self.say(f"resumed unfinished work: {len(report['resent'])} queued task(s) sent again, "
                     f"{len(report['resumed'])} interrupted task(s) sent as their next attempt, "
                     f"{len(report['failed'])} failed (that was their last attempt), "
                     f"{len(report['finished'])} job(s) ended")

    def start_web(self) -> None:
        self.say(f"starting the web app (API + dashboard) on http://127.0.0.1:{self.web_port}")
        proc = self._spawn(
            "web",
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.web_port}", "--noreload", "--insecure",
             "--skip-checks"],
            env={**os.environ, **self.env},
        )
        wait_for_port(self.web_port, timeout=60, proc=proc, what="the web app")

    def start_workers(self) -> None:
        for n in range(1, self.workers + 1):
            self.say(f"starting worker {n}/{self.workers} (run_worker --concurrency {self.concurrency})")
            self.start_worker(f"worker-{n}")

    def start_worker(self, name: str, *extra_args: str) -> subprocess.Popen:
        return self._spawn(
            name,
            # A short long-poll keeps Ctrl-C snappy: an idle worker stops within 5 s.
            [sys.executable, "manage.py", "run_worker", "--concurrency", str(self.concurrency), "--wait-seconds", "5",
             *extra_args],
            env={**os.environ, **self.env, "WORKER_ID": f"local-{name}"},
            stop_signal=signal.SIGTERM,
        )

    def start_runner(self):
        from .runner import LocalRunner

        routes = local_rule_routes(endpoint_url=self.env["AWS_ENDPOINT_URL"], region=REGION,
                                   bus_name=self.env["EVENT_BUS_NAME"])
        for route in routes:
            self.say(f"rule {route.rule_name} → {route.command}")
        sources = local_sqs_sources(self.env)
        for source in sources:
            self.say(f"queue {source.name} → {source.handler}")
        return LocalRunner(routes, sources=sources, threads_per_route=2).start()

    def start_health_checks(self, interval: float = 60.0):
        """The scheduled health check (production: every 5 minutes), here every minute."""
        from jobmanager.config import get_config

        from .health_loop import HealthCheckLoop

        cfg = get_config()
        slack_state = f"alerts go to Slack channel {cfg.alert_channel}" if cfg.slack_bot_token and cfg.alert_channel \
            else "Slack is off (set SLACK_BOT_TOKEN and ALERT_CHANNEL to post alerts)"
        self.say(f"health check every {interval:.0f} s; {slack_state}")
        return HealthCheckLoop(interval=interval, say=self.say).start()

    def _spawn(self, name: str, argv: list[str], *, env: dict[str, str], stop_signal: int = signal.SIGTERM) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=BASE_DIR, env=env, start_new_session=True)
        self.children.append(Child(name, proc, stop_signal))
        return proc

    # ── run / stop ───────────────────────────────────────────────────────────

    def watch(self, stop: threading.Event, on_tick: Any = None) -> None:
        """Until Ctrl-C: report progress; restart a worker that dies (as PM2 or systemd
        would: its task comes back through SQS), and stop everything if another child dies."""
        restarts: list[float] = []
        while not stop.wait(2.0):
            for child in list(self.children):
                if child.proc.poll() is None:
                    continue
                code = child.proc.returncode
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60]
                if child.name.startswith("worker") and len(restarts) < WORKER_RESTARTS_PER_MINUTE:
                    restarts.append(now)
                    self.children.remove(child)
                    self.say(f"{child.name} exited unexpectedly (code {code}); restarting it "
                             "(its running tasks come back from the queue within VISIBILITY_EXTENSION_AMOUNT, "
                             "as their next attempt)")
                    self.start_worker(child.name)
                    continue
                self.say(f"{child.name} exited unexpectedly (code {code}); stopping")
                return
            if on_tick:
                on_tick()

    def stop_all(self, runner: Any = None) -> None:
        self.say(f"stopping: workers finish their running tasks first, for up to {WORKER_STOP_WAIT} s (Ctrl-C "
                 "again to force); a task still running then is stopped, and runs again as its next attempt "
                 "on the next start")
        order = [c for c in self.children if c.name.startswith("worker")] + [c for c in self.children if c.name == "web"]
        for child in order:
            if child.proc.poll() is None:
                child.proc.send_signal(child.stop_signal)
        for child in order:
            _wait_or_kill(child, timeout=WORKER_STOP_WAIT if child.name.startswith("worker") else 10)
        if runner is not None:
            runner.stop()
        if self.env:  # the emulator is still up: keep what it holds for the next run
            self.verbose_saves = True
            self.save_data()
        for child in self.children:
            if child not in order and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
                _wait_or_kill(child, timeout=10)
        self.say("stopped")


# A worker's warm stop, at most: then it is killed, and its tasks' processes end with it
# (consumer/child.py), to run again on the next start.
WORKER_STOP_WAIT = 30


def _wait_or_kill(child: Child, *, timeout: float) -> None:
    try:
        child.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
