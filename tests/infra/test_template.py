"""The infra/ template deployed into the embedded emulator, and the emulator's atomicity.

Runs against a real server started by ``start_emulator()`` (no moto decorators), the
same way the local stack uses it. No Django needed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from jobmanager.local.emulator import Emulator, start_emulator
from jobmanager.local.stack import RuleRoute, deploy_stack, local_rule_routes, stack_environment

REGION = "eu-west-1"
REPO = Path(__file__).resolve().parents[2]

ClientFactory = Callable[[str], Any]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with start_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def stage() -> str:
    # moto's state is per process: a unique stage keeps this module's stack its own.
    return f"infra-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def outputs(emulator: Emulator, stage: str) -> dict[str, str]:
    return deploy_stack(endpoint_url=emulator.endpoint_url, stage=stage, region=REGION)


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> ClientFactory:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(max_pool_connections=20, retries={"max_attempts": 1}),
        )

    return make


# -- the stack ------------------------------------------------------------------


def test_stack_deploys_with_all_outputs_and_redeploy_returns_them(
    emulator: Emulator, stage: str, outputs: dict[str, str]
) -> None:
    assert set(outputs) == {
        "TaskQueueUrl", "TaskQueueArn", "TaskDLQUrl", "TaskDLQArn",
        "EventsTableName", "EventsTableArn", "TaskDefinitionsTableName", "TaskDefinitionsTableArn",
        "EventBusName", "EventBusArn", "ArtifactsBucketName", "ArtifactsBucketArn",
        "EventBridgeTargetDLQUrl", "EventBridgeTargetDLQArn",
    }  # fmt: skip
    assert outputs["EventsTableName"] == f"events-{stage}"
    assert outputs["TaskDefinitionsTableName"] == f"task-definitions-{stage}"
    assert outputs["EventBusName"] == f"job-manager-{stage}"
    assert outputs["TaskQueueUrl"].endswith(f"/task-queue-{stage}")
    assert outputs["TaskDLQUrl"].endswith(f"/task-queue-dlq-{stage}")
    assert outputs["EventBridgeTargetDLQUrl"].endswith(f"/{stage}-eventbridge-target-dlq")
    assert outputs["ArtifactsBucketName"] == f"job-manager-artifacts-{stage}-123456789012"
    assert deploy_stack(endpoint_url=emulator.endpoint_url, stage=stage, region=REGION) == outputs


def test_task_queue_has_seed_attributes_and_redrive(outputs: dict[str, str], client: ClientFactory) -> None:
    sqs = client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["TaskQueueUrl"], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "900"
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": outputs["TaskDLQArn"],
        "maxReceiveCount": 3,
    }
    dlq = sqs.get_queue_attributes(QueueUrl=outputs["TaskDLQUrl"], AttributeNames=["MessageRetentionPeriod"])
    assert dlq["Attributes"]["MessageRetentionPeriod"] == "1209600"


def test_events_table_has_seven_gsis_and_ttl(outputs: dict[str, str], client: ClientFactory) -> None:
    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName=outputs["EventsTableName"])["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"PK": "HASH", "SK": "RANGE"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == [f"GSI{n}-index" for n in range(1, 8)]
    for n in range(1, 8):
        index = indexes[f"GSI{n}-index"]
        assert {k["AttributeName"]: k["KeyType"] for k in index["KeySchema"]} == {
            f"GSI{n}PK": "HASH",
            f"GSI{n}SK": "RANGE",
        }
        assert index["Projection"]["ProjectionType"] == "ALL"
    ttl = dynamodb.describe_time_to_live(TableName=outputs["EventsTableName"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_task_definitions_table_is_keyed_by_name(outputs: dict[str, str], client: ClientFactory) -> None:
    table = client("dynamodb").describe_table(TableName=outputs["TaskDefinitionsTableName"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "name", "KeyType": "HASH"}]


def test_artifacts_bucket_exists(outputs: dict[str, str], client: ClientFactory) -> None:
    client("s3").head_bucket(Bucket=outputs["ArtifactsBucketName"])


def test_exports_have_the_seed_names(stage: str, outputs: dict[str, str], client: ClientFactory) -> None:
    # Other tests' stacks share the emulator, and moto lists some of their exports without a
    # value (resources it can't create): read only this stack's, from every page (100 a page).
    pages = client("cloudformation").get_paginator("list_exports").paginate()
    exports = {e["Name"]: e.get("Value") for page in pages for e in page["Exports"] if e["Name"].endswith(f"-{stage}")}
    expected = {
        "queue-url": "TaskQueueUrl", "queue-arn": "TaskQueueArn",
        "dlq-url": "TaskDLQUrl", "dlq-arn": "TaskDLQArn",
        "events-table-name": "EventsTableName", "events-table-arn": "EventsTableArn",
        "task-defs-table-name": "TaskDefinitionsTableName", "task-defs-table-arn": "TaskDefinitionsTableArn",
        "event-bus-name": "EventBusName", "event-bus-arn": "EventBusArn",
        "artifacts-bucket": "ArtifactsBucketName", "artifacts-bucket-arn": "ArtifactsBucketArn",
    }  # fmt: skip
    for suffix, output_key in expected.items():
        assert exports[f"job-manager-{suffix}-{stage}"] == outputs[output_key]


def test_stack_environment_maps_outputs_to_app_settings(stage: str, outputs: dict[str, str]) -> None:
    env = stack_environment(outputs, endpoint_url="http://127.0.0.1:1", region=REGION, stage=stage)
    assert env["EVENTS_TABLE"] == f"events-{stage}"
    assert env["TASK_QUEUE_URL"] == env["SQS_QUEUE_URL"] == outputs["TaskQueueUrl"]
    assert env["EVENT_BUS_NAME"] == env["EVENTBRIDGE_BUS_NAME"] == f"job-manager-{stage}"
    assert env["TASK_DEFINITIONS_TABLE"] == f"task-definitions-{stage}"
    assert env["S3_BUCKET"] == outputs["ArtifactsBucketName"]
    assert env["TASK_DLQ_URL"] == outputs["TaskDLQUrl"]
    assert env["EVENTBRIDGE_TARGET_DLQ_URL"] == outputs["EventBridgeTargetDLQUrl"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["STAGE"] == stage
    assert all(isinstance(v, str) and v for v in env.values())


# -- rules: what the handlers receive ----------------------------------------------


@pytest.fixture(scope="module")
def routes(emulator: Emulator, stage: str, outputs: dict[str, str]) -> dict[str, RuleRoute]:
    found = local_rule_routes(endpoint_url=emulator.endpoint_url, region=REGION, bus_name=outputs["EventBusName"])
    return {route.command: route for route in found}


def test_local_rule_routes_name_both_handlers(stage: str, routes: dict[str, RuleRoute]) -> None:
    assert set(routes) == {"lambdas.save_event_to_dynamo.handler", "lambdas.dispatcher.handler"}
    save, dispatch = routes["lambdas.save_event_to_dynamo.handler"], routes["lambdas.dispatcher.handler"]
    assert save.rule_name == f"{stage}-save-event-to-dynamo"
    assert save.queue_url.endswith(f"/{stage}-save-event-to-dynamo-local")
    assert dispatch.rule_name == f"{stage}-task-dispatcher"
    assert dispatch.queue_url.endswith(f"/{stage}-task-dispatcher-local")


def _put_log_event(client: ClientFactory, bus: str, event_type: str) -> dict[str, Any]:
    detail = {"eventId": uuid.uuid4().hex, "eventType": event_type, "jobId": "j1", "taskId": "a", "attempt": 1}
    entry = {"Source": "job-manager", "DetailType": "log-event", "Detail": json.dumps(detail), "EventBusName": bus}
    response = client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0
    return detail


def _bodies_for(client: ClientFactory, queue_url: str, event_id: str, wait: int) -> list[dict[str, Any]]:
    """Messages about ``event_id`` in the queue (deleted once read)."""
    sqs = client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        if not messages.get("Messages"):
            return found
        for message in messages["Messages"]:
            body = json.loads(message["Body"])
            if body.get("detail", {}).get("eventId") == event_id:
                found.append(body)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        wait = 0


def test_task_completed_reaches_both_handlers_as_zappa_command_payloads(
    outputs: dict[str, str], routes: dict[str, RuleRoute], client: ClientFactory
) -> None:
    detail = _put_log_event(client, outputs["EventBusName"], "Task Completed")
    for command, route in routes.items():
        assert _bodies_for(client, route.queue_url, detail["eventId"], wait=2) == [
            {"command": command, "detail": detail}
        ]


def test_task_started_reaches_only_the_save_event_handler(
    outputs: dict[str, str], routes: dict[str, RuleRoute], client: ClientFactory
) -> None:
    detail = _put_log_event(client, outputs["EventBusName"], "Task Started")
    save = routes["lambdas.save_event_to_dynamo.handler"]
    assert _bodies_for(client, save.queue_url, detail["eventId"], wait=2) == [
        {"command": save.command, "detail": detail}
    ]
    # PutEvents delivers synchronously in moto: had the rule matched, it would be there.
    assert _bodies_for(client, routes["lambdas.dispatcher.handler"].queue_url, detail["eventId"], wait=0) == []


def test_undeliverable_rule_message_ends_in_the_eventbridge_target_dlq_after_four_tries(
    outputs: dict[str, str], routes: dict[str, RuleRoute], client: ClientFactory
) -> None:
    """Locally, a handler that keeps failing leaves its message; like EventBridge (1 try +
    3 retries), the 4th failure sends it to the target DLQ."""
    sqs = client("sqs")
    queue_url = routes["lambdas.dispatcher.handler"].queue_url
    detail = _put_log_event(client, outputs["EventBusName"], "Task Failed")
    for _ in range(4):
        (message,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
        assert json.loads(message["Body"])["detail"] == detail
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", []) == []
    assert _bodies_for(client, outputs["EventBridgeTargetDLQUrl"], detail["eventId"], wait=2) == [
        {"command": "lambdas.dispatcher.handler", "detail": detail}
    ]


# -- the emulator is as atomic as AWS -------------------------------------------------


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every 10 µs instead of 5 ms. Clients and server share this process
    (and its GIL), so races inside moto are rare at the default interval; at this one,
    the tests below fail within a run or two without the emulator's middleware."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_conditional_updates_are_exact(outputs: dict[str, str], client: ClientFactory) -> None:
    """8 threads x 50 'add v to a set unless present, and count it' updates; every value is
    sent twice, by different threads. DynamoDB counts each value once; so must the emulator."""
    table, key = outputs["EventsTableName"], {"PK": {"S": f"TEST#{uuid.uuid4()}"}, "SK": {"S": "counter"}}
    threads_n, values_n = 8, 200
    work: list[list[int]] = [[] for _ in range(threads_n)]
    for value in range(values_n):  # the two copies of a value go to neighbouring threads
        work[value % threads_n].append(value)
        work[(value + 1) % threads_n].append(value)
    clients = [client("dynamodb") for _ in range(threads_n)]
    rejected = Counter[int]()
    start = threading.Barrier(threads_n)

    def run(dynamodb: Any, values: list[int]) -> None:
        start.wait()
        for value in values:
            try:
                dynamodb.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="ADD #seen :vs, #count :one",
                    ConditionExpression="NOT contains(#seen, :v)",
                    ExpressionAttributeNames={"#seen": "seen", "#count": "count"},
                    ExpressionAttributeValues={
                        ":vs": {"SS": [str(value)]},
                        ":v": {"S": str(value)},
                        ":one": {"N": "1"},
                    },
                )
            except dynamodb.exceptions.ConditionalCheckFailedException:
                rejected[value] += 1

    threads = [threading.Thread(target=run, args=(c, w)) for c, w in zip(clients, work, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item = clients[0].get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert len(item["seen"]["SS"]) == values_n
    assert item["count"]["N"] == str(values_n)
    assert rejected == Counter(range(values_n))  # exactly one of each pair lost


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_long_polls_never_share_a_message(client: ClientFactory) -> None:
    """4 receivers long-poll one queue while 200 messages arrive; no message is handed to
    two receivers within its visibility timeout (nothing is deleted here)."""
    sqs = client("sqs")
    queue_url = sqs.create_queue(
        QueueName=f"concurrency-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "120"}
    )["QueueUrl"]
    total, receivers_n = 200, 4
    received: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def receive(receiver: Any) -> None:
        while not done.is_set():
            messages = receiver.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            with lock:
                received.extend(m["MessageId"] for m in messages.get("Messages", []))
                if len(received) >= total:
                    done.set()

    threads = [threading.Thread(target=receive, args=(client("sqs"),)) for _ in range(receivers_n)]
    for thread in threads:
        thread.start()
    sender = client("sqs")
    for batch in range(total // 10):
        entries = [{"Id": str(i), "MessageBody": f"m{batch}-{i}"} for i in range(10)]
        assert not sender.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
    done.wait(timeout=60)
    done.set()
    for thread in threads:
        thread.join()

    duplicates = [message_id for message_id, n in Counter(received).items() if n > 1]
    assert duplicates == []
    assert len(received) == total


def test_long_poll_returns_promptly_when_a_message_arrives(client: ClientFactory) -> None:
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName=f"long-poll-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    wait_seconds = 10
    result: dict[str, Any] = {}

    def poll() -> None:
        result["messages"] = client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=wait_seconds)
        result["returned_at"] = time.monotonic()

    poller = threading.Thread(target=poll)
    started = time.monotonic()
    poller.start()
    time.sleep(0.5)
    assert poller.is_alive()  # it is long-polling, not answering "empty" at once
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")  # not blocked by the waiting poller
    poller.join(timeout=wait_seconds + 5)

    assert [m["Body"] for m in result["messages"]["Messages"]] == ["hello"]
    assert result["returned_at"] - sent_at < wait_seconds / 2
    assert result["returned_at"] - started < wait_seconds


def test_long_poll_sees_a_message_whose_visibility_timeout_expires(client: ClientFactory) -> None:
    """No request announces an expiring visibility timeout: the poll must notice it itself."""
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName=f"visibility-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="again")
    first = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=1)["Messages"][0]
    started = time.monotonic()
    again = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=10)["Messages"][0]
    assert again["MessageId"] == first["MessageId"]
    assert time.monotonic() - started < 10


def test_emulator_runs_in_the_foreground_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "jobmanager.local.emulator", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        endpoint = line.split()[4]
        assert endpoint.startswith("http://127.0.0.1:")
        sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
        )
        assert sqs.list_queues().get("QueueUrls", []) == []  # a fresh process: a fresh moto
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
