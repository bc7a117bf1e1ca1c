"""``python manage.py run_local``: the whole stack on this machine, no AWS account."""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from api.models import ApiKey
from jobmanager.config import BASE_DIR
from jobmanager.local.supervisor import LocalStack, load_json

EXAMPLES = BASE_DIR / "examples"


class Command(BaseCommand):
    help = (
        "Run everything locally in the foreground: an embedded AWS emulator with infra/template.yaml deployed, "
        "the API + dashboard, workers, and the EventBridge rule handlers. Seeds the example task definitions, "
        "submits the example job and prints the dashboard URL, a login and an API key. Ctrl-C stops it all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web app port (default 8000)")
        parser.add_argument("--aws-port", type=int, default=4566, help="AWS emulator port (default 4566)")
        parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
        parser.add_argument("--concurrency", type=int, default=3, help="task slots per worker (default 3)")
        parser.add_argument("--job", default=str(EXAMPLES / "jobs" / "repo-report.json"),
                            help="job JSON to submit at start (default: the repository report example)")
        parser.add_argument("--no-example", action="store_true", help="don't submit a job at start")
        parser.add_argument("--fresh", action="store_true",
                            help="start from empty tables and bucket, ignoring (and then replacing) the data saved "
                                 "by earlier runs in the data folder")

    def handle(self, *args, port, aws_port, workers, concurrency, job, no_example, fresh, **options):
        stack = LocalStack(web_port=port, aws_port=aws_port, workers=workers, concurrency=concurrency)
        stack.check_ports()
        call_command("migrate", verbosity=0)
        tenant = os.environ.get("TENANT_ID") or "local"
        login, api_key = self.local_credentials(stack.data_dir, tenant=tenant)

        stop = threading.Event()
        presses = {"n": 0}

        def on_signal(signum, frame):
            presses["n"] += 1
            if presses["n"] == 1:
                stop.set()
            else:  # second Ctrl-C: workers stop at once, their messages return to the queue
                for child in stack.children:
                    if child.name.startswith("worker") and child.proc.poll() is None:
                        child.proc.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        runner = None
        health_loop = None
        try:
            endpoint = stack.start_emulator()
            stack.deploy(endpoint, tenant=tenant)
            restored = stack.restore_data(fresh=fresh)
            self.seed_definitions(stack)
            stack.start_web()
            stack.start_workers()
            runner = stack.start_runner()
            health_loop = stack.start_health_checks()
            if restored:
                stack.resume_interrupted()
            # The example runs on the first start; later starts show the saved jobs.
            job_id = None if no_example or restored else self.submit(stack, Path(job))
            self.banner(stack, login, api_key, job_id)
            progress = self.progress_reporter(stack, job_id)

            def tick() -> None:
                progress()
                stack.save_data_every()

            stack.watch(stop, on_tick=tick)
        finally:
            if health_loop is not None:
                health_loop.stop()
            stack.stop_all(runner)

    def local_credentials(self, data_dir: Path, *, tenant: str) -> tuple[tuple[str, str], str]:
        """A dashboard login and an API key for this machine, kept in .local/ (git-ignored)
        so every run prints the same ones."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "credentials.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        users = get_user_model().objects
        username, password = saved.get("username", "admin"), saved.get("password") or secrets.token_urlsafe(12)
        user = users.filter(username=username).first()
        if user is None or not user.check_password(password):
            user = user or users.create_superuser(username, f"{username}@localhost", password)
            user.set_password(password)
            user.save()
        api_key = saved.get("apiKey")
        key = ApiKey.lookup(api_key) if api_key else None
        if key is None or key.tenant_id != tenant:
            _, api_key = ApiKey.issue(name="run_local", tenant_id=tenant)
        path.write_text(json.dumps({"username": username, "password": password, "apiKey": api_key}, indent=2))
        path.chmod(0o600)
        return (username, password), api_key

    def seed_definitions(self, stack: LocalStack) -> None:
        """Add the example definitions that aren't there yet; one you edited is kept."""
        from jobmanager.services.task_definitions import put_task_definition
        from jobmanager.store.task_definitions import get_task_definition_store

        bodies = [load_json(file) for file in sorted((EXAMPLES / "task-definitions").glob("*.json"))]
        existing = get_task_definition_store().get_many({body["name"] for body in bodies})
        new = [body for body in bodies if body["name"] not in existing]
        for body in new:
            put_task_definition(tenant_id=stack.env["TENANT_ID"], name=body.pop("name"), body=body)
        kept = f" ({len(existing)} already there, kept as they are)" if existing else ""
        stack.say(f"seeded {len(new)} task definitions from examples/task-definitions/{kept}")

    def submit(self, stack: LocalStack, path: Path) -> str:
        from jobmanager.domain.events import Source
        from jobmanager.domain.model import TaskSpec
        from jobmanager.services.jobs import create_job

        body = load_json(path)
        tasks = [TaskSpec(t["taskId"], t["taskDefinition"], t.get("input", {}), tuple(t.get("dependsOn", [])))
                 for t in body["tasks"]]
        job = create_job(tenant_id=stack.env["TENANT_ID"], name=body["name"], tasks=tasks,
                         metadata=body.get("metadata", {}), source=Source.API)
        stack.say(f"submitted {path.name}: job {job['jobId']} ({len(tasks)} tasks)")
        return job["jobId"]

    def banner(self, stack: LocalStack, login: tuple[str, str], api_key: str, job_id: str | None) -> None:
        base = f"http://127.0.0.1:{stack.web_port}"
        lines = [
            "",
            "  Job manager is running locally.",
            f"  Dashboard:  {base}/dashboard/" + (f"jobs/{job_id}/" if job_id else ""),
            f"  Login:      {login[0]} / {login[1]}",
            f"  API key:    {api_key}",
            f"  Try:        curl -H 'x-api-key: {api_key}' {base}/jobs",
            f"              curl -H 'x-api-key: {api_key}' -H 'content-type: application/json' "
            f"-d @examples/jobs/repo-report.json {base}/jobs",
            "  Stop:       Ctrl-C (twice to stop running tasks at once)",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def progress_reporter(self, stack: LocalStack, job_id: str | None):
        from jobmanager.services.queries import get_job

        last = {"line": ""}

        def tick() -> None:
            if not job_id:
                return
            try:
                job = get_job(tenant_id=stack.env["TENANT_ID"], job_id=job_id)
            except Exception as exc:  # progress is a nicety; never stop the stack for it
                stack.say(f"(progress unavailable: {exc.__class__.__name__})")
                return
            done = sum(job["counts"].values())
            line = f"example job {job['status']}: {done}/{job['taskCount']} tasks finished"
            if line != last["line"]:
                stack.say(line)
                last["line"] = line

        return tick
