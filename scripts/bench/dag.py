"""DAG validation of a 10,000-task job (networkx: cycles, unknown dependencies and
definitions, duplicates) and the dashboard's topological layout: time and peak memory.

    .venv/bin/python -m scripts.bench.dag
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from .common import Row, report, setup_django

SIZE = 10_000


def random_dag(n: int, seed: int = 7) -> list[Any]:
    """Each task depends on up to 3 of the 200 before it: deep and wide, like real jobs."""
    from jobmanager.domain.model import TaskSpec

    rng = random.Random(seed)
    return [TaskSpec(f"t{i:05d}", "step", {}, tuple(f"t{j:05d}" for j in sorted(
        set(rng.sample(range(max(0, i - 200), i), k=min(i, rng.randint(0, 3))))))) for i in range(n)]


def measure(call: Callable[[], Any]) -> tuple[float, int, Any]:
    """Seconds of one call, and the peak bytes it allocates (tracemalloc, on a second
    call: tracing slows Python down several times)."""
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, result


def run() -> list[Row]:
    setup_django()
    from dashboard.graph import layout
    from jobmanager.domain.dag import validate_dag
    from jobmanager.domain.errors import ValidationFailed

    tasks = random_dag(SIZE)
    edges = sum(len(t.depends_on) for t in tasks)
    rows = []
    seconds, peak, order = measure(lambda: validate_dag(tasks, known_definitions={"step"}))
    rows.append(Row("DAG", f"validate {SIZE:,} tasks, {edges:,} edges", f"{seconds * 1000:.0f} ms",
                    f"peak {peak / 2**20:.1f} MiB allocated"))
    assert len(order) == SIZE

    # The same DAG closed into a loop: the first task now also depends on the last.
    last = tasks[-1].task_id
    cyclic = [t if t.task_id != "t00000" else type(t)(t.task_id, t.task_definition, t.input, (last,)) for t in tasks]
    cyclic[-1] = type(tasks[-1])(last, "step", {}, tuple(sorted({*tasks[-1].depends_on, "t00000"})))

    def reject() -> str:
        try:
            validate_dag(cyclic, known_definitions={"step"})
        except ValidationFailed as exc:
            return str(exc)
        raise AssertionError("a cycle was accepted")

    seconds, peak, message = measure(reject)
    rows.append(Row("DAG", f"reject a cycle in {SIZE:,} tasks", f"{seconds * 1000:.0f} ms",
                    f"peak {peak / 2**20:.1f} MiB; says: {message[:60]}…"))

    items = [{"taskId": t.task_id, "dependsOn": list(t.depends_on), "status": "pending"} for t in tasks]
    for n in (200, 1000, SIZE):
        seconds, peak, drawn = measure(lambda n=n: layout(items[:n], max_nodes=max(n, 200)))
        rows.append(Row("DAG", f"dashboard layout, {n:,} tasks", f"{seconds * 1000:.0f} ms",
                        f"peak {peak / 2**20:.1f} MiB; {len(drawn.nodes)} nodes, {len(drawn.edges)} edges"))
    return rows


if __name__ == "__main__":
    report(run())
