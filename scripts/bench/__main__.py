"""``make bench``: every benchmark, one table, written to docs/benchmarks.md.

Not tests: times on a shared machine are noisy, so nothing here passes or fails on a
time. Request counts are exact (and asserted by tests/services/test_request_counts.py).

    .venv/bin/python -m scripts.bench [--quick] [--only requests,dag,dashboard,e2e]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

from .common import ROOT, Row, table

OUTPUT = ROOT / "docs" / "benchmarks.md"

INTRO = """# Benchmarks

The table is written by `make bench`. Times are from one run on a shared machine:
compare them with each other, not to the millisecond. Request counts are exact, and
`tests/services/test_request_counts.py` asserts the dispatch's.

Targets (issue 7), on the local stack: a chain of 40 no-op command tasks at ≤ 90 ms per
hop (p50); a fan-out/fan-in of 200 in ≤ 10 s with 3 workers. For scale: Celery + Redis
4.7 ms/hop and 0.9 s; Prefect 3 on SQLite 30.5 ms/hop and 6.3 s — neither durable
through AWS APIs. Every hop here is: the worker's `PutEvents` → the rule → the
dispatcher (conditional writes to DynamoDB, `PutEvents`, `SendMessageBatch`) → the next
worker's receive, claim and `Task Started`, each an HTTP call to the emulator.

"""


START, END = "<!-- make bench: start -->", "<!-- make bench: end -->"


def write(text: str) -> None:
    """Replace the generated block of docs/benchmarks.md (the analysis around it is
    written by hand), or start the file."""
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    block = f"{START}\n_{datetime.now(UTC):%Y-%m-%d}, {machine}_\n\n{text}\n{END}"
    current = OUTPUT.read_text() if OUTPUT.exists() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        OUTPUT.write_text(head + block + rest.split(END, 1)[1])
    else:
        OUTPUT.write_text(INTRO + block + "\n")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="requests,dag,dashboard,e2e", help="comma-separated sections")
    parser.add_argument("--quick", action="store_true", help="smaller end-to-end jobs (a smoke run)")
    parser.add_argument("--no-write", action="store_true", help=f"print only; don't write {OUTPUT.relative_to(ROOT)}")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    rows: list[Row] = []
    started = time.monotonic()
    # Each section runs in its own process: the embedded emulators keep moto's state in
    # module globals, and the end-to-end run starts its own stack.
    for name, module, extra in (
        ("requests", "scripts.bench.requests", []),
        ("dag", "scripts.bench.dag", []),
        ("dashboard", "scripts.bench.dashboard_render", []),
        ("e2e", "scripts.bench.e2e", ["--chain", "10", "--fanout", "20", "--long-chain", "0"] if args.quick else []),
    ):
        if name not in wanted:
            continue
        print(f"==> {name} ({module})", flush=True)
        result = subprocess.run([sys.executable, "-m", module, "--rows", *extra], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE)
        if result.returncode:
            print(f"{name} failed (exit {result.returncode})", file=sys.stderr)
            return result.returncode
        rows += [Row(*line.split("\t")) for line in result.stdout.splitlines() if line.count("\t") == 3]
    text = table(rows)
    print(text)
    print(f"({time.monotonic() - started:.0f} s)")
    if not args.no_write and not args.quick and wanted == {"requests", "dag", "dashboard", "e2e"}:
        write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
