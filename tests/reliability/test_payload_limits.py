"""Payload limits with a real worker (invariant 5): an input over the inline limit is
stored in S3 and the task item holds its pointer; an output over the inline limit goes to
S3 and its event carries the pointer and the size; a task message that would be too big
for SQS (many large upstream outputs) goes to S3 by pointer too. The worker resolves every
pointer, so the tasks see the real values, and no stored event comes near 256 KB.
(PutEvents partial failures: test_publish_failures.py.)"""

from __future__ import annotations

import json

from jobmanager.aws import artifacts
from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions
from jobmanager.store.events_table import get_event_store

from .harness import of_type, sequence, settled_log, stop_when_job

PRINT_N = ["python", "-c", "import sys; print('x' * int(sys.argv[1]), end='')", "{input.n}"]
# Reads what the worker gave it (input and upstream outputs, pointers resolved) and sizes it up.
MEASURE = ["python", "-c",
           "import json, os; c = json.load(open(os.environ['JOBMANAGER_CONTEXT'])); "
           "print(json.dumps({'input': len(c['input'].get('blob', '')), "
           "'upstream': {k: len(v) for k, v in sorted(c['upstream'].items())}}), end='')"]
WIDE = [f"w{i}" for i in range(8)]  # 8 x 30 KB inline outputs: their successor's message is ~240 KB


def test_large_inputs_outputs_and_messages_travel_by_s3_pointer(tenant, make_queue, runner, workers):
    # Given a job with a 20 KB input, a 40 KB output and a join whose message would be ~240 KB
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-print", body={"kind": "command",
                                                                                    "command": PRINT_N})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-measure", body={"kind": "command",
                                                                                      "command": MEASURE})
    blob = "y" * 20_000
    job = jobs.create_job(tenant_id=tenant, name="payloads", tasks=[
        TaskSpec("big-in", "rel-measure", {"blob": blob}),
        TaskSpec("big-out", "rel-print", {"n": 40_000}),
        *(TaskSpec(w, "rel-print", {"n": 30_000}) for w in WIDE),
        TaskSpec("join", "rel-measure", {}, (*WIDE, "big-out"))])
    job_id = job["jobId"]
    store = get_event_store()
    big_in = store.get_task(job_id, "big-in")
    assert "input" not in big_in and artifacts.get_json(big_in["inputRef"]) == {"blob": blob}

    # When a worker runs the job
    worker = workers(queue_url, concurrency=2)
    stop_when_job(worker, job_id, "completed", timeout=120)

    # Then every task ran once and saw the real values behind the pointers
    events = settled_log(runner, job_id)
    for task_id in ("big-in", "big-out", *WIDE, "join"):
        assert sequence(events, task_id) == ["Task Queued", "Task Started", "Task Completed"], task_id
    assert sequence(events) == ["Job Created", "Job Completed"]
    (measured,) = of_type(events, "Task Completed", "big-in")
    assert json.loads(measured["data"]["output"]) == {"input": 20_000, "upstream": {}}
    # the 40 KB output is in S3, the event has the pointer and the size
    (big_out,) = of_type(events, "Task Completed", "big-out")
    assert "output" not in big_out["data"] and big_out["data"]["outputSize"] == 40_000
    assert artifacts.get_text(big_out["data"]["outputRef"]) == "x" * 40_000
    # the join's message went to S3 (too big for SQS), and its task still got every output
    message = artifacts.get_json({"key": artifacts.message_key(job_id, "join", 1)})
    assert sorted(message["upstream"]) == sorted([*WIDE, "big-out"])
    (joined,) = of_type(events, "Task Completed", "join")
    assert json.loads(joined["data"]["output"]) == {
        "input": 0, "upstream": {"big-out": 40_000, **dict.fromkeys(WIDE, 30_000)}}
    # and no event is anywhere near EventBridge's 256 KB
    assert max(len(json.dumps(e)) for e in events) < 64 * 1024
