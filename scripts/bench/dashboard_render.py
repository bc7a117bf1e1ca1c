"""Benchmark (not a test): the server time to render a job's dashboard page for a
200-task and a 1,000-task job, and the DynamoDB requests each render makes.

Everything is local: the embedded AWS emulator (moto, in a thread of this process) with
the infra/ template deployed, a throwaway SQLite database for Django's tables, and
Django's test client (the whole request path — middleware, view, queries, template — but
no HTTP socket). DynamoDB requests are counted with a botocore ``before-call`` hook on
the real DynamoDB clients the store uses, so every request the page makes (a query page,
a get, a batch get) counts once. Times include the emulator's work, in this process.

    .venv/bin/python scripts/bench/dashboard_render.py [--repeat 5]

``run()`` returns the rows (``metric``, ``value``, ``unit``, ``note``) for ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = (200, 1000)
TENANT = "bench-tenant"
DEFINITION = "bench-echo"
REGION = "eu-west-1"


class DynamoCounter:
    """Counts DynamoDB API calls by operation (botocore's ``before-call`` event) and the
    time spent in them (until ``after-call``; the page's requests are sequential)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0
        self._started = 0.0

    def before(self, model: Any = None, **_: Any) -> None:
        self.calls[model.name if model is not None else "?"] += 1
        self._started = time.perf_counter()

    def after(self, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb", self.before)
        client.meta.events.register("after-call.dynamodb", self.after)

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0


def _environment(data_dir: str) -> None:
    """The emulator with the real template, and the env the app reads (as the tests set it)."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "STAGE": "test",
                       "JOBMANAGER_DATA_DIR": data_dir, "TENANT_ID": TENANT, "WORK_ROOT": data_dir,
                       "DJANGO_SETTINGS_MODULE": "jobmanager.settings"})
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "DATABASE_URL"):
        os.environ.pop(name, None)
    from jobmanager.local.emulator import start_emulator
    from jobmanager.local.stack import deploy_stack, stack_environment

    emulator = start_emulator()
    outputs = deploy_stack(endpoint_url=emulator.endpoint_url, stage="test", region=REGION)
    os.environ.update(stack_environment(outputs, endpoint_url=emulator.endpoint_url, region=REGION, stage="test"))
    os.environ["TENANT_ID"] = TENANT


def _layered(n: int) -> list[Any]:
    """``n`` tasks in layers of 10, each depending on two tasks of the layer before."""
    from jobmanager.domain.model import TaskSpec

    tasks = []
    for i in range(n):
        layer, col = divmod(i, 10)
        deps = () if layer == 0 else tuple(sorted({f"t{(layer - 1) * 10 + col:04d}",
                                                   f"t{(layer - 1) * 10 + (col + 1) % 10:04d}"}))
        tasks.append(TaskSpec(f"t{i:04d}", DEFINITION, {"n": i}, deps))
    return tasks


def run(repeat: int = 5) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as data_dir:
        _environment(data_dir)
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django.contrib.auth import get_user_model
        from django.urls import reverse

        from jobmanager.aws import clients
        from jobmanager.services import jobs, task_definitions

        setup_test_environment()  # the test client's response.context, ALLOWED_HOSTS=testserver
        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user(username="bench", password="bench-password-not-secret")
        client = Client()
        client.force_login(user)

        counter = DynamoCounter()
        counter.attach(clients.dynamodb_resource().meta.client)
        counter.attach(clients.client("dynamodb"))

        task_definitions.put_task_definition(tenant_id=TENANT, name=DEFINITION,
                                             body={"kind": "command", "command": ["echo", "{input.n}"]})
        rows: list[dict[str, Any]] = []
        for size in SIZES:
            job = jobs.create_job(tenant_id=TENANT, name=f"bench-{size}", tasks=_layered(size))
            url = reverse("dashboard:job", args=[job["jobId"]])
            client.get(url)  # warm: template compilation, imports
            times, requests, dynamo_ms = [], [], []
            for _ in range(repeat):
                counter.reset()
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
                requests.append(dict(counter.calls))
                dynamo_ms.append(counter.seconds * 1000)
            shown = len(response.context["tasks"])
            graph = "SVG graph" if response.context["graph"].nodes else "list view (no graph past 200)"
            ops = requests[-1]
            rows.append({"metric": f"dashboard job page, {size} tasks: render time", "value": round(statistics.median(times), 1),
                         "unit": "ms", "note": f"median of {repeat} (min {min(times):.1f}, max {max(times):.1f}); "
                                              f"{shown} tasks on the page, {graph}; of which DynamoDB (emulator) "
                                              f"{statistics.median(dynamo_ms):.0f} ms"})
            rows.append({"metric": f"dashboard job page, {size} tasks: DynamoDB requests", "value": sum(ops.values()),
                         "unit": "requests", "note": ", ".join(f"{k} x{v}" for k, v in sorted(ops.items()))})
        return rows


def _table(rows: list[dict[str, Any]]) -> str:
    widths = [max(len(str(r[k])) for r in rows + [{"metric": "metric", "value": "value", "unit": "unit", "note": "note"}])
              for k in ("metric", "value", "unit")]
    lines = [f"{'metric':<{widths[0]}}  {'value':>{widths[1]}}  {'unit':<{widths[2]}}  note"]
    for r in rows:
        lines.append(f"{r['metric']:<{widths[0]}}  {r['value']!s:>{widths[1]}}  {r['unit']:<{widths[2]}}  {r['note']}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="renders measured per job (default 5)")
    print(_table(run(repeat=parser.parse_args().repeat)))
