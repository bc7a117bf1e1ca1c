"""SQS (the EventBridge target DLQ) → a Slack alert (incoming webhook) for each event a
rule could not deliver: its type, job, task and the error EventBridge recorded. Without
SLACK_WEBHOOK_URL the alert goes to the log instead. A webhook failure leaves the record
on the queue, to alert again."""

from __future__ import annotations

from typing import Any

from jobmanager.services.delivery_alerts import alert

from ._sqs import Record, process_records


def _alert(record: Record) -> None:
    alert(str(record.get("body") or ""), record.get("messageAttributes"))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return process_records(event, _alert, what="eventbridge-dlq-alert")
