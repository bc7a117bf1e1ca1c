"""Retry's finer rules, driven as a worker would (no process): a descendant skipped for
another failure too stays skipped until that one is retried as well; a retry inside a
running job leaves it running and never fails it; a task can't be retried twice."""

from __future__ import annotations

import pytest

from jobmanager.domain.errors import Conflict
from jobmanager.domain.model import TaskSpec
from jobmanager.services import control, jobs, task_definitions
from jobmanager.store.events_table import get_event_store
from tests.helpers import run_as_worker, take_task_messages

from .harness import settled_log, job_status, sequence, task_status, wait_until

FAIL = {"error": {"message": "boom", "kind": "exit_code", "retryable": False}, "willRetry": False}


@pytest.fixture
def noop(tenant, make_queue, runner) -> str:
    make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-true",
                                         body={"kind": "command", "command": ["true"]})
    return "rel-true"


def work(job_id: str, *, fail: set[str] = frozenset(), until: str) -> list[str]:
    """Act as a worker (failing the tasks in ``fail``) until the job is ``until``."""
    ran: list[str] = []

    def step() -> bool:
        for message in take_task_messages():
            ran.append(message["taskId"])
            run_as_worker(message, fail=FAIL if message["taskId"] in fail else None)
        return job_status(job_id) == until

    wait_until(step, timeout=60, what=f"the job to be {until}")
    return ran


def test_a_descendant_skipped_for_two_failures_waits_for_both_retries(tenant, noop, runner):
    # Given a and b failed, so c (after both) was skipped and the job failed
    job = jobs.create_job(tenant_id=tenant, name="two", tasks=[
        TaskSpec("a", noop), TaskSpec("b", noop), TaskSpec("c", noop, {}, ("a", "b"))])
    job_id = job["jobId"]
    work(job_id, fail={"a", "b"}, until="failed")

    # When only a is retried, then c stays skipped, and the job fails again once a is done
    assert control.retry_task(tenant_id=tenant, job_id=job_id, task_id="a")["reset"] == []
    assert task_status(job_id, "c") == "skipped"
    assert work(job_id, until="failed") == ["a"]

    # When b is retried too, then c runs after it and the job completes
    assert control.retry_task(tenant_id=tenant, job_id=job_id, task_id="b")["reset"] == ["c"]
    item = get_event_store().get_task(job_id, "c")
    assert (item["status"], item["remaining"], item["doneDeps"]) == ("pending", 1, ["a"])
    assert work(job_id, until="completed") == ["b", "c"]
    events = settled_log(runner, job_id)
    assert sequence(events, "c") == ["Task Skipped", "Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Failed", "Job Failed", "Job Completed"]


def test_a_retry_inside_a_running_job_keeps_it_running(tenant, noop, runner):
    # Given a failed while its sibling s is still queued: the job runs on
    job = jobs.create_job(tenant_id=tenant, name="running", tasks=[
        TaskSpec("a", noop), TaskSpec("s", noop), TaskSpec("c", noop, {}, ("a",))])
    job_id = job["jobId"]
    messages = {m["taskId"]: m for m in take_task_messages()}
    run_as_worker(messages["a"], fail=FAIL)
    wait_until(lambda: task_status(job_id, "c") == "skipped", timeout=30, what="c to be skipped")
    assert job_status(job_id) == "running"

    # When a is retried, then it runs again and the job completes, never having failed
    retried = control.retry_task(tenant_id=tenant, job_id=job_id, task_id="a")
    assert (retried["status"], retried["attempt"], retried["reset"]) == ("running", 2, ["c"])
    with pytest.raises(Conflict, match="task a is queued"):
        control.retry_task(tenant_id=tenant, job_id=job_id, task_id="a")
    run_as_worker(messages["s"])
    assert sorted(work(job_id, until="completed")) == ["a", "c"]
    assert sequence(settled_log(runner, job_id)) == ["Job Created", "Job Completed"]
    job_item = get_event_store().get_job(job_id, consistent=True)
    assert (job_item["completedCount"], job_item["failedCount"], job_item["skippedCount"]) == (3, 0, 0)
