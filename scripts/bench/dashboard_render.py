"""The server time to render a job's dashboard page for a 200-task and a 1,000-task
job, and the DynamoDB requests each render makes (counted by ``jobmanager.aws.metering``).

The emulator runs in this process (infra/ deployed), Django's test client drives the
whole request path — middleware, view, store queries, template — without a socket.
Render times therefore include the emulator's work; the time spent waiting for it is
reported beside them.

    .venv/bin/python -m scripts.bench.dashboard_render [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from .common import TENANT, Row, embedded_stack, report, setup_django

SIZES = (200, 1000)
DEFINITION = "bench-echo"


def layered(n: int) -> list[Any]:
    """``n`` tasks in layers of 10, each depending on two tasks of the layer before."""
    from jobmanager.domain.model import TaskSpec

    tasks = []
    for i in range(n):
        layer, col = divmod(i, 10)
        deps = () if layer == 0 else tuple(sorted({f"t{(layer - 1) * 10 + col:04d}",
                                                   f"t{(layer - 1) * 10 + (col + 1) % 10:04d}"}))
        tasks.append(TaskSpec(f"t{i:04d}", DEFINITION, {"n": i}, deps))
    return tasks


def run(repeat: int = 5) -> list[Row]:
    setup_django()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from jobmanager.aws import metering
    from jobmanager.services import jobs

    rows: list[Row] = []
    with embedded_stack(definitions={DEFINITION: {"kind": "command", "command": ["echo", "{input.n}"]}}):
        user = get_user_model().objects.create_user(username="bench", password="bench-password-not-secret")
        client = Client()
        client.force_login(user)
        for size in SIZES:
            job = jobs.create_job(tenant_id=TENANT, name=f"bench-{size}", tasks=layered(size))
            url = reverse("dashboard:job", args=[job["jobId"]])
            client.get(url)  # warm: template compilation, imports
            times, waits = [], []
            for _ in range(repeat):
                with metering.meter() as m:
                    started = time.perf_counter()
                    response = client.get(url)
                    times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
                waits.append(m.seconds)
            shown = len(response.context["tasks"])
            graph = "SVG graph" if response.context["graph"].nodes else "list view (no graph past 200)"
            section = f"dashboard job page, {size} tasks"
            rows += [
                Row(section, "render time (median)", f"{statistics.median(times) * 1000:.0f} ms",
                    f"{repeat} renders, min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms; "
                    f"waiting for DynamoDB (emulator) {statistics.median(waits) * 1000:.0f} ms"),
                Row(section, "AWS requests", str(m.total), f"{m.describe()}; {shown} tasks shown, {graph}"),
            ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", action="store_true", help="tab-separated rows (for make bench)")
    report(run(parser.parse_args().repeat))


if __name__ == "__main__":
    main()
