"""AWS requests and DynamoDB capacity per operation, counted exactly (boto3 hooks, see
``jobmanager.aws.metering``), against the embedded emulator with infra/ deployed.

Operations: job submission; one dispatch (the dispatcher handling a ``Task Completed``
that readies one successor); one task lifecycle (a real worker runs the message —
receive, claim, ``Task Started``, the command, ``Task Completed``, delete — plus every
handler those events trigger: event persistence and the dispatcher); ``GET /jobs``;
``GET /jobs/{id}``. Dispatch and lifecycle are measured in jobs of 10, 100 and 1,000
tasks: they must not grow with the job. Requests the local rule runner makes to carry
events to the handlers are not counted: in AWS, EventBridge invokes the Lambda.

    .venv/bin/python -m scripts.bench.requests
"""

from __future__ import annotations

import json
from typing import Any

from .common import TENANT, Row, embedded_stack, report, setup_django

NOOP = "bench-noop"
SIZES = (10, 100, 1000)


def job_of(size: int) -> list:
    """``a`` → ``b`` → ``c0000`` → … : ``size`` tasks, each with one successor, so one
    dispatch or lifecycle does the same work whatever the job's size."""
    from jobmanager.domain.model import TaskSpec

    ids = ["a", "b"] + [f"c{i:04d}" for i in range(size - 2)]
    return [TaskSpec(task_id, NOOP, {"n": n}, (ids[n - 1],) if n else ()) for n, task_id in enumerate(ids)]


class Handlers:
    """EventBridge → Lambda, with only the handlers' own requests metered: the rule
    queues are read outside the meter, then each handler runs inside it."""

    def __init__(self) -> None:
        from jobmanager.config import get_config
        from jobmanager.local.stack import local_rule_routes

        cfg = get_config()
        self.routes = local_rule_routes(endpoint_url=cfg.aws_endpoint_url, region=cfg.region,
                                        bus_name=cfg.event_bus_name)

    def _take(self) -> list[tuple[Any, dict[str, Any]]]:
        from jobmanager.aws import metering
        from jobmanager.aws.clients import client

        payloads = []
        with metering.paused():
            sqs = client("sqs")
            for route in self.routes:
                while messages := sqs.receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=10,
                                                      WaitTimeSeconds=0).get("Messages", []):
                    for message in messages:
                        payloads.append((route, json.loads(message["Body"])))
                        sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return payloads

    def drain(self) -> int:
        from jobmanager.local.runner import resolve_handler

        delivered = 0
        while payloads := self._take():
            for route, payload in payloads:
                resolve_handler(payload.get("command") or route.command)(payload, None)
                delivered += 1
        return delivered


def take_task_messages() -> list[Any]:
    from jobmanager.aws import metering, queue

    taken = []
    with metering.paused():
        while batch := queue.receive(max_messages=10, wait_seconds=0):
            for message in batch:
                queue.delete(message.receipt_handle)
            taken += batch
    return taken


def submit(size: int, handlers: Handlers):
    """A job of ``size`` (metered), its root's message taken, handlers drained."""
    from jobmanager.aws import metering
    from jobmanager.services import jobs

    take_task_messages()
    with metering.meter() as m:
        job = jobs.create_job(tenant_id=TENANT, name=f"bench-{size}", tasks=job_of(size))
    handlers.drain()
    return job, m


def measure_dispatch(size: int, handlers: Handlers):
    """The dispatcher handling ``a``'s Task Completed: mark it, count it on ``b``,
    claim ``b``, announce and send it, check whether the job is done."""
    from jobmanager.aws import bus, metering
    from jobmanager.domain.events import EventType
    from jobmanager.services import dispatch
    from tests.helpers import worker_event

    submit(size, handlers)
    (message,) = take_task_messages()
    with metering.paused():
        bus.publish([worker_event(EventType.TASK_STARTED, message.body)])
    handlers.drain()
    completed = worker_event(EventType.TASK_COMPLETED, message.body, output="done", outputSize=4)
    with metering.meter() as m:
        dispatch.handle_event(completed)
    sent = [msg.body["taskId"] for msg in take_task_messages()]
    assert sent == ["b"], f"the dispatch sent {sent}, expected ['b']"
    handlers.drain()
    return m


def measure_lifecycle(size: int, handlers: Handlers):
    """``a``, queued, run by a real worker (burst mode: one message, then it stops) and
    carried by the handlers until ``b`` is queued."""
    from consumer.worker import Worker
    from jobmanager.aws import metering

    from jobmanager.store.task_definitions import get_task_definition_store

    submit(size, handlers)
    get_task_definition_store().get(NOOP, cached=True)  # a running worker has it cached
    with metering.meter() as m:
        Worker(concurrency=1, burst=True, queue_url=None, wait_seconds=0, retry_backoff=1.0).work()
        handlers.drain()
    sent = [msg.body["taskId"] for msg in take_task_messages()]
    assert sent == ["b"], f"the lifecycle queued {sent}, expected ['b']"
    return m


def measure_api(job_id: str, api_key: str) -> list[tuple[str, Any]]:
    from django.test import Client

    from jobmanager.aws import metering

    client = Client(HTTP_X_API_KEY=api_key)
    results = []
    for label, path in (("GET /jobs", "/jobs"), ("GET /jobs/{id}", f"/jobs/{job_id}")):
        with metering.meter() as m:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        results.append((label, m))
    return results


def _describe(m) -> str:
    return f"{m.describe()}; {m.read_units} RCU ({m.bytes_read:,} bytes read)"


def run() -> list[Row]:
    setup_django()
    from api.models import ApiKey

    rows: list[Row] = []
    with embedded_stack(definitions={NOOP: {"kind": "command", "command": ["true"], "maxAttempts": 1}}):
        handlers = Handlers()
        for size in SIZES:
            job, m = submit(size, handlers)
            rows.append(Row("requests", f"submit a job of {size} tasks", str(m.total), _describe(m)))
        dispatches = {size: measure_dispatch(size, handlers) for size in SIZES}
        for size, m in dispatches.items():
            rows.append(Row("requests", f"one dispatch, job of {size}", str(m.total), _describe(m)))
        lifecycles = {size: measure_lifecycle(size, handlers) for size in SIZES}
        for size, m in lifecycles.items():
            rows.append(Row("requests", f"one task lifecycle, job of {size}", str(m.total), _describe(m)))
        for what, meters in (("dispatch", dispatches), ("task lifecycle", lifecycles)):
            flat = len({(tuple(m.by_operation().items()), m.read_units)
                        for m in meters.values()}) == 1
            rows.append(Row("requests", f"{what}: flat in job size", "yes" if flat else "NO",
                            "same requests and read units at " + ", ".join(map(str, SIZES)) + " tasks"))
        _, key = ApiKey.issue(name="bench", tenant_id=TENANT)
        for label, m in measure_api(job["jobId"], key):
            rows.append(Row("requests", f"{label} (job of {SIZES[-1]})", str(m.total), _describe(m)))
    return rows


if __name__ == "__main__":
    report(run())
