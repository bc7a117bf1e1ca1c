"""What every benchmark shares: result rows, the table they print, the environment."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TENANT = "bench"


def setup_django() -> None:
    """Make the project importable and Django configured (benchmarks run as scripts)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobmanager.settings")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        os.environ.pop(name, None)
    import django

    django.setup()


@dataclass
class Row:
    section: str
    metric: str
    value: str
    note: str = ""


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(rows: list[Row]) -> str:
    """A Markdown table (readable in a terminal too)."""
    head = ("Section", "Metric", "Value", "Note")
    cells = [head] + [(r.section, r.metric, r.value, r.note) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    line = lambda c: "| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(c) for c in cells[1:]])


@contextmanager
def embedded_stack(definitions: dict[str, dict] | None = None) -> Iterator[dict[str, str]]:
    """The emulator in this process with infra/template.yaml deployed, the environment
    exported, a throwaway database for Django's tables, and ``definitions`` saved."""
    from django.db import connection
    from django.test.utils import setup_test_environment

    from jobmanager.aws import clients
    from jobmanager.config import get_config
    from jobmanager.local.emulator import start_emulator
    from jobmanager.local.stack import deploy_stack, stack_environment
    from jobmanager.services import task_definitions as definition_service
    from jobmanager.store import events_table, task_definitions

    setup_test_environment()  # the test client's host, response.context
    connection.creation.create_test_db(verbosity=0)
    emulator = start_emulator()
    try:
        outputs = deploy_stack(endpoint_url=emulator.endpoint_url, stage="bench")
        env = stack_environment(outputs, endpoint_url=emulator.endpoint_url, region="eu-west-1", stage="bench")
        os.environ.update({**env, "TENANT_ID": TENANT, "WORK_ROOT": tempfile.mkdtemp(prefix="bench-work-")})
        get_config.cache_clear()
        clients.reset()
        events_table._store_for.cache_clear()
        task_definitions._store_for.cache_clear()
        for name, body in (definitions or {}).items():
            definition_service.put_task_definition(tenant_id=TENANT, name=name, body=body)
        yield env
    finally:
        emulator.stop()


def report(rows: list[Row], argv: list[str] | None = None) -> None:
    """A section's output: a table for people, or ``--rows`` (tab-separated, one row a
    line) for ``make bench`` to collect."""
    args = argv if argv is not None else sys.argv[1:]
    if "--rows" in args:
        for row in rows:
            print("\t".join(v.replace("\t", " ") for v in (row.section, row.metric, row.value, row.note)), flush=True)
    else:
        print(table(rows))
