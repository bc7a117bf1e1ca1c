"""SQS-triggered handlers: one record at a time, partial batch failures reported.

A record that raises is listed in ``batchItemFailures`` and stays on its queue (to be
redelivered); the others are deleted. Lambda honours that with the event source's
``ReportBatchItemFailures``; without it (Zappa's SQS sources) keep the batch size at 1,
as the seed does, so one record's failure can't make others run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from jobmanager.domain.redaction import redact

log = logging.getLogger(__name__)

Record = dict[str, Any]


def process_records(event: dict[str, Any], handle: Callable[[Record], Any], *, what: str) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        try:
            handle(record)
        except Exception as exc:
            log.error("%s: message %s failed, left for redelivery: %s: %s", what, record.get("messageId"),
                      exc.__class__.__name__, redact(str(exc))[:500])
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failures}
