"""SQS (the task DLQ) → a terminal ``Task Failed`` (``source: dlq``) for each message
that exhausted its deliveries; the dispatcher's terminal path skips its descendants and
ends the job. Each record's body is the original task message."""

from __future__ import annotations

import json
from typing import Any

from jobmanager.services.dead_letters import fail_dead_letter

from ._sqs import Record, process_records


def _fail(record: Record) -> None:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        body = {}
    fail_dead_letter(body if isinstance(body, dict) else {})


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return process_records(event, _fail, what="dlq-processor")
