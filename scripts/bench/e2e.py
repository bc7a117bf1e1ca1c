"""End-to-end figures on the local stack: a chain and a fan-out/fan-in of no-op command
tasks, through the emulator as a separate process, the rule runner with the real
handlers (in this process) and real ``run_worker`` processes.

For each job: total time (submit → ``Job Completed``), throughput, and hop latency —
dependency's ``Task Completed`` → dependent's ``Task Started`` (for a fan-in, the last
dependency's) — p50/p95. Then where the CPU went, per process: the emulator, the
workers (with their task processes), and this process (the handlers: dispatcher and
event persistence), from /proc, against wall time.

    .venv/bin/python -m scripts.bench.e2e --chain 40 --fanout 200
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, fmt_ms, fmt_s, free_port, percentile, report, setup_django

NOOP = "bench-noop"
TERMINAL = {"completed", "failed", "cancelled"}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    from scripts.soak import descendants

    return _cpu_seconds(pid) + sum(_cpu_seconds(child) for child in descendants(pid))


def emulator_stats(endpoint: str) -> dict[str, dict[str, float]]:
    """moto calls and the CPU they took, by operation, so far (the emulator counts them)."""
    from jobmanager.local.emulator import STATS_PATH

    with urllib.request.urlopen(endpoint + STATS_PATH, timeout=10) as response:
        return json.load(response)


def stats_delta(before: dict, after: dict) -> dict[str, tuple[int, float]]:
    return {op: (int(v["calls"] - before.get(op, {}).get("calls", 0)),
                 v["cpuSeconds"] - before.get(op, {}).get("cpuSeconds", 0.0)) for op, v in after.items()}


def chain(n: int):
    from jobmanager.domain.model import TaskSpec

    return [TaskSpec(f"t{i:03d}", NOOP, {}, (f"t{i - 1:03d}",) if i else ()) for i in range(n)]


def fan_out_in(n: int):
    from jobmanager.domain.model import TaskSpec

    middle = [TaskSpec(f"m{i:03d}", NOOP, {}, ("root",)) for i in range(n)]
    return [TaskSpec("root", NOOP, {}), *middle, TaskSpec("sink", NOOP, {}, tuple(t.task_id for t in middle))]


def run_job(name: str, tasks, *, tenant: str, timeout: float) -> dict:
    """Submit, wait for the end, and measure from the job's own events."""
    from jobmanager.domain.ids import parse_iso
    from jobmanager.services import jobs
    from jobmanager.store.events_table import get_event_store
    from scripts.soak import every

    store = get_event_store()
    submitted = time.time()
    job = jobs.create_job(tenant_id=tenant, name=name, tasks=tasks)
    deadline = time.monotonic() + timeout
    while (status := store.get_job(job["jobId"], consistent=True)["status"]) not in TERMINAL:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: not finished after {timeout:.0f} s")
        time.sleep(0.5)  # (the total is read from the events: polling only costs the emulator)
    ended = time.time()
    time.sleep(1.5)  # the last events reach the store
    events = every(store.job_events, job["jobId"])
    ts = lambda e: parse_iso(e["timestamp"]).timestamp()  # noqa: E731
    completed = {e["taskId"]: ts(e) for e in events if e["eventType"] == "Task Completed"}
    started = {e["taskId"]: ts(e) for e in events if e["eventType"] == "Task Started"}
    finish = next((ts(e) for e in events if e["eventType"] in ("Job Completed", "Job Failed")), ended)
    hops = [started[t.task_id] - max(completed[d] for d in t.depends_on)
            for t in tasks if t.depends_on and t.task_id in started and all(d in completed for d in t.depends_on)]
    return {"status": status, "tasks": len(tasks), "total": finish - submitted, "hops": hops}


def run(*, chain_length: int = 40, fanout: int = 200, long_chain: int = 100, workers: int = 3,
        concurrency: int = 3) -> list[Row]:
    setup_django()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    os.environ.update({"WORK_ROOT": str(work / "work"), "DELETE_FILES_AFTER_UPLOAD": "true"})
    from jobmanager.local.supervisor import LocalStack
    from jobmanager.services import task_definitions

    stack = LocalStack(web_port=free_port(), aws_port=free_port(), workers=workers, concurrency=concurrency,
                       data_dir=work / "data")
    runner = None
    rows: list[Row] = []
    setup = f"{workers} workers x {concurrency} slots"
    try:
        stack.deploy(stack.start_emulator(), tenant="bench")
        task_definitions.put_task_definition(tenant_id="bench", name=NOOP,
                                             body={"kind": "command", "command": ["true"], "maxAttempts": 1})
        for n in range(1, workers + 1):
            stack.start_worker(f"worker-{n}")
        runner = stack.start_runner()
        run_job("warm-up", chain(3), tenant="bench", timeout=120)
        pids = {c.name: c.proc.pid for c in stack.children}
        jobs = [(f"chain of {chain_length}", chain(chain_length)) if chain_length else None,
                (f"fan-out/fan-in of {fanout}", fan_out_in(fanout)) if fanout else None,
                (f"chain of {long_chain}", chain(long_chain)) if long_chain else None]
        for label, tasks in filter(None, jobs):
            cpu_before = {name: _tree_cpu(pid) for name, pid in pids.items()}
            moto_before = emulator_stats(stack.env["AWS_ENDPOINT_URL"])
            here_before = time.process_time()
            wall = time.monotonic()
            result = run_job(label, tasks, tenant="bench", timeout=900)
            wall = time.monotonic() - wall
            cpu = {name: _tree_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
            moto = stats_delta(moto_before, emulator_stats(stack.env["AWS_ENDPOINT_URL"]))
            moto_calls = sum(n for n, _ in moto.values())
            moto_cpu = sum(t for _, t in moto.values())
            top = sorted(moto.items(), key=lambda kv: -kv[1][1])[:4]
            emulator = cpu.pop("aws-emulator", 0.0)
            worker_cpu = sum(cpu.values())
            here = time.process_time() - here_before
            hops = result["hops"]
            section = f"e2e: {label}"
            rows += [
                Row(section, "status", result["status"], f"{result['tasks']} tasks, {setup}"),
                Row(section, "total (submit → Job Completed)", fmt_s(result["total"]),
                    f"{result['tasks'] / result['total']:.1f} tasks/s"),
                Row(section, "hop latency p50", fmt_ms(percentile(hops, 50)),
                    "dependency's Task Completed → dependent's Task Started"),
                Row(section, "hop latency p95", fmt_ms(percentile(hops, 95)), f"{len(hops)} hops"),
                Row(section, "CPU: emulator", fmt_s(emulator), f"{emulator / wall:.0%} of wall time; of which inside "
                    f"moto {moto_cpu:.2f} s (the rest: HTTP server, our locking middleware)"),
                Row(section, "emulator calls per task", f"{moto_calls / result['tasks']:.1f}",
                    f"{moto_cpu / moto_calls * 1000:.1f} ms CPU each in moto; most CPU: " + ", ".join(
                        f"{op} {n / result['tasks']:.1f}/task {t / max(n, 1) * 1000:.1f} ms" for op, (n, t) in top)),
                Row(section, "CPU: workers + task processes", fmt_s(worker_cpu), f"{worker_cpu / wall:.0%}"),
                Row(section, "CPU: handlers (dispatcher, persistence)", fmt_s(here), f"{here / wall:.0%}"),
            ]
            print(f"e2e: {label}: {result['status']} in {result['total']:.1f} s, hop p50 "
                  f"{percentile(hops, 50) * 1000:.0f} ms", file=sys.stderr, flush=True)
    finally:
        stack.stop_all(runner)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", type=int, default=40)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--long-chain", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--rows", action="store_true", help="tab-separated rows (for make bench)")
    args = parser.parse_args()
    report(run(chain_length=args.chain, fanout=args.fanout, long_chain=args.long_chain, workers=args.workers,
               concurrency=args.concurrency))


if __name__ == "__main__":
    main()
