"""The SQS task queue: what the dispatcher sends and the worker receives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobmanager.config import get_config
from jobmanager.domain.errors import JobManagerError

from .clients import client

MAX_BATCH = 10
MAX_MESSAGE_BYTES = 256 * 1024


class SendFailed(JobManagerError):
    status_code = 503
    code = "send_failed"


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: dict[str, Any]
    receive_count: int


def _queue_url(queue_url: str | None) -> str:
    url = queue_url or get_config().task_queue_url
    if not url:
        raise SendFailed("TASK_QUEUE_URL (or SQS_QUEUE_URL) is not configured")
    return url


def send_messages(bodies: Sequence[dict[str, Any]], *, queue_url: str | None = None) -> None:
    """Send task messages, batched 10 per call; any per-message failure raises."""
    url = _queue_url(queue_url)
    for start in range(0, len(bodies), MAX_BATCH):
        chunk = bodies[start : start + MAX_BATCH]
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body, separators=(",", ":"))} for i, body in enumerate(chunk)
        ]
        for entry in entries:
            if len(entry["MessageBody"]) > MAX_MESSAGE_BYTES:
                raise SendFailed("task message over SQS's 256 KB limit", details={"size": len(entry["MessageBody"])})
        response = client("sqs").send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            failed = response["Failed"]
            raise SendFailed(
                f"{len(failed)} task message(s) were not accepted by SQS",
                details={"codes": sorted({f.get("Code", "") for f in failed})},
            )


def receive(*, max_messages: int, wait_seconds: int, queue_url: str | None = None) -> list[ReceivedMessage]:
    response = client("sqs").receive_message(
        QueueUrl=_queue_url(queue_url),
        MaxNumberOfMessages=max(1, min(MAX_BATCH, max_messages)),
        WaitTimeSeconds=wait_seconds,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    messages = []
    for raw in response.get("Messages", []):
        try:
            body = json.loads(raw["Body"])
        except ValueError:
            body = {"_unparseable": raw["Body"][:1000]}
        messages.append(
            ReceivedMessage(
                message_id=raw["MessageId"],
                receipt_handle=raw["ReceiptHandle"],
                body=body if isinstance(body, dict) else {"_unparseable": str(body)[:1000]},
                receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
        )
    return messages


def delete(receipt_handle: str, *, queue_url: str | None = None) -> None:
    client("sqs").delete_message(QueueUrl=_queue_url(queue_url), ReceiptHandle=receipt_handle)


def change_visibility(receipt_handle: str, seconds: int, *, queue_url: str | None = None) -> None:
    client("sqs").change_message_visibility(
        QueueUrl=_queue_url(queue_url), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )
