"""``make soak``: random DAG jobs through the whole local stack, with faults injected, then
every job checked against the invariants. Bounded: it stops at --timeout whatever happens.

The stack is run_local's (the emulator as a process, the infra/ template, the rule
runner with the real handlers, real ``run_worker`` processes), minus the web app. The
faults, while the jobs run:

* task errors: some tasks fail retryably on their first attempt (exit 75), a few fail
  for good (exit 1), so their descendants are skipped and their job fails;
* killed workers: every --kill-every seconds a worker and its task processes get
  SIGKILL (a machine lost) and a new worker starts; the task queue's visibility is
  short, so their messages come back in seconds (and go to the DLQ after 3 receives);
* duplicates: stored events are published again (same eventId: EventBridge retrying a
  delivery), and copies of queued or running tasks' messages are sent (SQS's
  at-least-once).

Then, for every job: terminal, ended exactly once; every task terminal, completed at
most once, started at most once per attempt, never before its dependencies completed;
a job completed exactly when none of its tasks failed. The last line is PASS or FAIL.

    .venv/bin/python scripts/soak.py --jobs 30 --seed 7
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobmanager.settings")

VISIBILITY_SECONDS = 6  # the task queue's, for the soak: a killed worker's task returns fast
TERMINAL_TASK = {"completed", "failed", "skipped", "cancelled"}
TERMINAL_JOB = {"completed", "failed", "cancelled"}
STEP = [  # one task: sleep, then succeed, fail once (retryable), or fail for good
    "python", "-c",
    "import os, sys, time; mode, pause = sys.argv[1], float(sys.argv[2]); time.sleep(pause); "
    "attempt = int(os.environ['ATTEMPT']); "
    "sys.exit(1 if mode == 'permanent' else 75 if mode == 'flaky' and attempt == 1 else 0)",
    "{input.mode}", "{input.pause}",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_dag(rng: random.Random, *, flaky: float, permanent: float) -> list[dict]:
    size = rng.randint(3, 12)
    tasks = []
    for n in range(size):
        earlier = [f"t{m}" for m in range(n)]
        deps = rng.sample(earlier, k=min(len(earlier), rng.choice([0, 1, 1, 2, 2, 3]))) if earlier else []
        roll = rng.random()
        mode = "permanent" if roll < permanent else "flaky" if roll < permanent + flaky else "ok"
        tasks.append({"taskId": f"t{n}", "mode": mode, "pause": round(rng.uniform(0.0, 0.6), 2), "dependsOn": deps})
    return tasks


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the worker's forkserver and its task processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    for target in [pid, *descendants(pid)]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Chaos:
    """The fault injector, on its own thread until stopped."""

    def __init__(self, *, stack, rng: random.Random, job_ids: list[str], kill_every: float,
                 duplicate_every: float) -> None:
        self.stack, self.rng, self.job_ids = stack, rng, job_ids
        self.kill_every, self.duplicate_every = kill_every, duplicate_every
        self.kills = self.duplicate_events = self.duplicate_messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos", daemon=True)
        self._next_worker = stack.workers + 1

    def start(self) -> Chaos:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        next_kill = time.monotonic() + self.kill_every
        while not self._stop.wait(self.duplicate_every):
            try:
                self.duplicate()
                if self.kill_every and time.monotonic() >= next_kill:
                    self.kill_a_worker()
                    next_kill = time.monotonic() + self.kill_every
            except Exception as exc:  # a fault injector that dies would make the soak pass vacuously
                print(f"chaos: {exc.__class__.__name__}: {exc}", flush=True)

    def kill_a_worker(self) -> None:
        alive = [c for c in self.stack.children if c.name.startswith("worker") and c.proc.poll() is None]
        victim = self.rng.choice(alive)
        kill_tree(victim.proc.pid)
        victim.proc.wait()
        self.kills += 1
        name = f"worker-{self._next_worker}"
        self._next_worker += 1
        self.stack.start_worker(name, "--retry-backoff", "0.5")

    def duplicate(self) -> None:
        from jobmanager.aws import bus
        from jobmanager.domain.events import Event
        from jobmanager.services import dispatch
        from jobmanager.store.events_table import get_event_store

        store = get_event_store()
        job_id = self.rng.choice(self.job_ids)
        job = store.get_job(job_id, consistent=True)
        if not job or job["status"] != "running":
            return
        page = store.job_events(job_id, limit=100)
        replayable = [e for e in page.items if e["eventType"] in ("Task Completed", "Task Failed", "Task Started")]
        if replayable:
            bus.publish([Event.from_detail(self.rng.choice(replayable))])
            self.duplicate_events += 1
        active = [t for t in store.list_tasks(job_id, limit=100).items if t["status"] in ("queued", "running")]
        if active:
            dispatch.send_messages(store, job, [self.rng.choice(active)])
            self.duplicate_messages += 1


def every(read, job_id: str) -> list[dict]:
    """Every item of a paginated store read (``job_events``, ``list_tasks``)."""
    items, cursor = [], None
    while True:
        page = read(job_id, limit=100, cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return items


def example(problems: Counter, what: str, events: list[dict]) -> None:
    """Print the first few problems with the task's events: enough to start debugging."""
    problems["_examples"] += 1
    if problems["_examples"] > 3:
        return
    print(f"  example: {what}:")
    for e in events:
        data = e.get("data") or {}
        print(f"    {e['timestamp']} {e['eventType']:<15} attempt={e.get('attempt')} id={e['eventId']} "
              f"request={e.get('requestId')} worker={data.get('workerId')} source={e.get('source')}")


def check_job(store, job_id: str, spec: list[dict], problems: Counter, outcome: Counter) -> None:
    job = store.get_job(job_id, consistent=True)
    tasks = {t["taskId"]: t for t in every(store.list_tasks, job_id)}
    log = every(store.job_events, job_id)
    outcome[f"job {job['status']}"] += 1
    if job["status"] not in TERMINAL_JOB:
        problems["jobs not terminal"] += 1
    ends = [e for e in log if e["eventType"] in ("Job Completed", "Job Failed", "Job Cancelled")]
    if len(ends) != 1:
        problems["jobs not ended exactly once"] += 1
    by_task: dict[str, list[dict]] = {}
    for event in log:
        if event.get("taskId"):
            by_task.setdefault(event["taskId"], []).append(event)
    completed_at = {}
    for task_id, task in tasks.items():
        outcome[f"task {task['status']}"] += 1
        if (task.get("error") or {}).get("kind") == "dlq":
            outcome["task dead-lettered"] += 1
        if task["status"] not in TERMINAL_TASK:
            problems["tasks left pending/queued/running"] += 1
        events = by_task.get(task_id, [])
        completions = [e for e in events if e["eventType"] == "Task Completed"]
        if len(completions) > 1:
            problems["tasks completed more than once"] += 1
            example(problems, f"{job_id}/{task_id} completed {len(completions)} times", events)
        if completions:
            completed_at[task_id] = completions[0]["timestamp"]
        starts = Counter(e.get("attempt") for e in events if e["eventType"] == "Task Started")
        if any(n > 1 for n in starts.values()):
            problems["tasks started twice in one attempt"] += 1
            example(problems, f"{job_id}/{task_id} started twice in one attempt", events)
    for task in spec:
        starts = [e["timestamp"] for e in by_task.get(task["taskId"], []) if e["eventType"] == "Task Started"]
        for dep in task["dependsOn"]:
            if starts and (dep not in completed_at or min(starts) < completed_at[dep]):
                problems["tasks started before a dependency completed"] += 1
        if task["mode"] == "flaky" and tasks[task["taskId"]]["status"] == "completed" \
                and int(tasks[task["taskId"]].get("attempt", 1)) < 2:
            problems["flaky tasks completed on their first attempt"] += 1
    failed = any(t["status"] == "failed" for t in tasks.values())
    if job["status"] == "completed" and failed or job["status"] == "failed" and not failed:
        problems["jobs whose outcome disagrees with their tasks"] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flaky", type=float, default=0.10, help="share of tasks failing once, retryably")
    parser.add_argument("--permanent", type=float, default=0.03, help="share of tasks failing for good")
    parser.add_argument("--kill-every", type=float, default=8.0, help="seconds between worker kills (0: none)")
    parser.add_argument("--duplicate-every", type=float, default=0.5, help="seconds between duplicate injections")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    # Stopped from outside (Ctrl-C, kill): still stop the stack's processes (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    os.environ.update({"AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak", "WORK_ROOT": str(work / "work"),
                       "VISIBILITY_EXTENSION_INTERVAL": "2000", "VISIBILITY_EXTENSION_AMOUNT": str(VISIBILITY_SECONDS)})
    import django

    django.setup()
    from jobmanager.aws.clients import client
    from jobmanager.domain.model import TaskSpec
    from jobmanager.local.supervisor import LocalStack
    from jobmanager.services import jobs, task_definitions
    from jobmanager.store.events_table import get_event_store

    rng = random.Random(args.seed)
    stack = LocalStack(web_port=free_port(), aws_port=free_port(), workers=args.workers,
                       concurrency=args.concurrency, data_dir=work / "data")
    started = time.monotonic()
    runner = chaos = None
    try:
        stack.deploy(stack.start_emulator(), tenant="soak")
        client("sqs").set_queue_attributes(QueueUrl=stack.env["TASK_QUEUE_URL"],
                                           Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)})
        task_definitions.put_task_definition(tenant_id="soak", name="soak-step",
                                             body={"kind": "command", "command": STEP, "maxAttempts": 3})
        for n in range(1, args.workers + 1):
            stack.start_worker(f"worker-{n}", "--retry-backoff", "0.5")
        runner = stack.start_runner()

        specs: dict[str, list[dict]] = {}
        for n in range(args.jobs):
            spec = random_dag(rng, flaky=args.flaky, permanent=args.permanent)
            job = jobs.create_job(tenant_id="soak", name=f"soak-{n}", tasks=[
                TaskSpec(t["taskId"], "soak-step", {"mode": t["mode"], "pause": str(t["pause"])}, tuple(t["dependsOn"]))
                for t in spec])
            specs[job["jobId"]] = spec
        print(f"soak: submitted {len(specs)} jobs, {sum(map(len, specs.values()))} tasks "
              f"(seed {args.seed}, {args.workers} workers x {args.concurrency} slots)", flush=True)
        chaos = Chaos(stack=stack, rng=rng, job_ids=list(specs), kill_every=args.kill_every,
                      duplicate_every=args.duplicate_every).start()

        store = get_event_store()
        deadline = started + args.timeout
        remaining = set(specs)
        while remaining and time.monotonic() < deadline:
            remaining = {j for j in remaining if store.get_job(j, consistent=True)["status"] not in TERMINAL_JOB}
            if chaos and len(remaining) <= len(specs) // 4:
                chaos.stop()  # the last quarter finishes in calm water: every fault has had its chance
            print(f"soak: {len(specs) - len(remaining)}/{len(specs)} jobs finished, "
                  f"{time.monotonic() - started:.0f} s", flush=True)
            time.sleep(2)
        chaos.stop()
        while not runner.idle() and time.monotonic() < deadline:  # the last events reach the log
            time.sleep(0.5)

        problems: Counter = Counter()
        outcome: Counter = Counter()
        for job_id, spec in specs.items():
            check_job(store, job_id, spec, problems, outcome)
        del problems["_examples"]
        tasks = sum(map(len, specs.values()))
        modes = Counter(t["mode"] for spec in specs.values() for t in spec)
        print()
        print(f"jobs        {len(specs)}   tasks {tasks}   seed {args.seed}   "
              f"{args.workers} workers x {args.concurrency} slots   {time.monotonic() - started:.1f} s")
        print(f"faults      {modes['flaky']} tasks failing once (exit 75), {modes['permanent']} failing for good, "
              f"{chaos.kills} workers killed (SIGKILL), {chaos.duplicate_events} events published twice, "
              f"{chaos.duplicate_messages} task messages sent twice")
        print("outcome     " + ", ".join(f"{n} {what}" for what, n in sorted(outcome.items())))
        checks = ("jobs not terminal", "jobs not ended exactly once", "tasks left pending/queued/running",
                  "tasks completed more than once", "tasks started twice in one attempt",
                  "tasks started before a dependency completed", "flaky tasks completed on their first attempt",
                  "jobs whose outcome disagrees with their tasks")
        for check in checks:
            print(f"  {problems[check]:>4}  {check}")
        lost = problems["tasks left pending/queued/running"]
        print(f"duplicates  {problems['tasks completed more than once'] + problems['tasks started twice in one attempt']}"
              f"   lost {lost}")
        verdict = "PASS" if not problems else "FAIL: " + ", ".join(f"{n} {what}" for what, n in problems.items())
        print(verdict)
        return 0 if not problems else 1
    finally:
        if chaos:
            chaos.stop()
        stack.stop_all(runner)


if __name__ == "__main__":
    sys.exit(main())
