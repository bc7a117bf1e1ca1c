"""The embedded emulator's SQS long poll, through real HTTP from real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from jobmanager.aws.clients import client

_POLLER = """
import sys, boto3
sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="eu-west-1")
print("polling", flush=True)
sqs.receive_message(QueueUrl=sys.argv[2], WaitTimeSeconds=20)
print("returned", flush=True)
"""


def start_poller(endpoint_url: str) -> tuple[str, subprocess.Popen]:
    """A new empty queue, and a process blocked in a 20 s long poll on it."""
    url = client("sqs").create_queue(QueueName=f"poll-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    poller = subprocess.Popen([sys.executable, "-c", _POLLER, endpoint_url, url],
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert poller.stdout.readline().strip() == "polling"
    time.sleep(1.5)  # inside the emulator's poll loop by now
    return url, poller


def test_a_long_poll_whose_client_was_killed_takes_no_message(aws_stack):
    # Given a worker-like process blocked in a 20 s long poll on an empty queue
    sqs = client("sqs")
    url, poller = start_poller(aws_stack["endpoint_url"])

    # When it is killed mid-poll and a message arrives afterwards
    poller.kill()
    poller.wait()
    sqs.send_message(QueueUrl=url, MessageBody="task")

    # Then the next receiver gets it at once, first delivery (not after its visibility timeout)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got.get("Messages", [])] == [("task", "1")]


def test_a_live_long_poll_still_gets_a_message_sent_while_it_waits(aws_stack):
    # Given a process in a long poll
    sqs = client("sqs")
    url, poller = start_poller(aws_stack["endpoint_url"])

    # When a message is sent during its wait
    sqs.send_message(QueueUrl=url, MessageBody="task")

    # Then the poll returns with it, well before its 20 s end
    assert poller.stdout.readline().strip() == "returned"
    assert poller.wait(timeout=10) == 0
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


def _counter_update(table: str, pk: str, sk: str, condition: str | None = None) -> dict:
    update = {"TableName": table, "Key": {"PK": {"S": pk}, "SK": {"S": sk}}, "UpdateExpression": "ADD n :one",
              "ExpressionAttributeValues": {":one": {"N": "1"}}}
    if condition:
        update |= {"ConditionExpression": condition}
        update["ExpressionAttributeValues"][":zero"] = {"N": "0"}
    return {"Update": update}


def test_a_transaction_copies_no_table_and_a_cancelled_one_leaves_nothing_behind(aws_stack, monkeypatch):
    # Given two items in the events table, and tables that refuse to be deep-copied (moto
    # copies whole tables per transaction: O(table) time and memory on every call)
    from moto.dynamodb.models.table import Table

    def refuse(self, memo):
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    ddb, table, pk = client("dynamodb"), aws_stack["EVENTS_TABLE"], f"T#{uuid.uuid4().hex}"
    for sk in ("a", "b"):
        ddb.put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": sk}, "n": {"N": "0"}})

    # When one transaction commits, and another fails on its last condition after an update
    # and a put of a new item
    ddb.transact_write_items(TransactItems=[_counter_update(table, pk, "a"), _counter_update(table, pk, "b")])
    cancelled = None
    try:
        ddb.transact_write_items(TransactItems=[
            _counter_update(table, pk, "a"),
            {"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": "new"}}}},
            _counter_update(table, pk, "b", condition="n = :zero"),
        ])
    except ddb.exceptions.TransactionCanceledException as exc:
        cancelled = [r["Code"] for r in exc.response["CancellationReasons"]]

    # Then the first applied in full, the second not at all
    assert cancelled == ["None", "None", "ConditionalCheckFailed"]
    items = ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                      ExpressionAttributeValues={":pk": {"S": pk}})["Items"]
    assert {i["SK"]["S"]: i["n"]["N"] for i in items} == {"a": "1", "b": "1"}
