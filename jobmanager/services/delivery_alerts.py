"""The EventBridge target DLQ (the seed's eventbridge-dlq-alert): an event a rule could
not deliver to its handler, after every retry, is reported to Slack so an operator can
replay it — the job it belongs to may be stuck until then.

What arrives differs by world, and both are accepted:
  * AWS: the original event (``detail-type``, ``detail``...) with message attributes
    ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN, RETRY_ATTEMPTS;
  * locally: the rule's target input ``{"command": "lambdas.<module>.handler", "detail": ...}``,
    moved here by the local runner with the same attributes (or by SQS's own redrive,
    without them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobmanager.aws import slack_webhook
from jobmanager.config import get_config
from jobmanager.domain.redaction import redact

ERROR_ATTRIBUTES = ("ERROR_CODE", "ERROR_MESSAGE", "RULE_ARN", "TARGET_ARN", "RETRY_ATTEMPTS",
                    "EXHAUSTED_RETRY_CONDITION")


@dataclass(frozen=True)
class UndeliveredEvent:
    event_type: str
    event_id: str
    tenant_id: str
    job_id: str
    task_id: str
    target: str  # the handler it was meant for
    attributes: dict[str, str]  # the ERROR_* attributes that came with it

    @property
    def rule(self) -> str:
        return self.attributes.get("RULE_ARN", "").rsplit("/", 1)[-1]


def attribute_values(message_attributes: dict[str, Any] | None) -> dict[str, str]:
    """``{"ERROR_CODE": "..."}`` from Lambda's ``{"stringValue": ...}`` or SQS's ``{"StringValue": ...}``."""
    values: dict[str, str] = {}
    for name, value in (message_attributes or {}).items():
        if isinstance(value, dict):
            text = value.get("stringValue", value.get("StringValue"))
            if text is not None:
                values[name] = str(text)
    return values


def parse(body: str, message_attributes: dict[str, Any] | None = None) -> UndeliveredEvent:
    attributes = attribute_values(message_attributes)
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    detail = payload.get("detail")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = {}
    detail = detail if isinstance(detail, dict) else {}
    return UndeliveredEvent(
        event_type=str(detail.get("eventType") or payload.get("detail-type") or "unknown event"),
        event_id=str(detail.get("eventId") or payload.get("id") or "?"),
        tenant_id=str(detail.get("tenantId") or "?"),
        job_id=str(detail.get("jobId") or "-"),
        task_id=str(detail.get("taskId") or "-"),
        target=str(payload.get("command") or attributes.get("TARGET_ARN") or "?"),
        attributes={k: v for k, v in attributes.items() if k in ERROR_ATTRIBUTES},
    )


def alert_text(event: UndeliveredEvent) -> str:
    """One readable, redacted message: what was lost, for which job and task, and why."""
    cfg = get_config()
    lines = [
        f":rotating_light: *EventBridge could not deliver {event.event_type}* ({cfg.stage})",
        f"job `{event.job_id}` · task `{event.task_id}` · tenant `{event.tenant_id}` · event `{event.event_id}`",
        f"target: `{event.target}`" + (f" · rule `{event.rule}`" if event.rule else ""),
    ]
    code = event.attributes.get("ERROR_CODE")
    message = event.attributes.get("ERROR_MESSAGE")
    if code or message:
        lines.append(f"error: {code or '?'}: {message or ''}".rstrip(": "))
    else:
        lines.append("error: not recorded (the queue's own redrive moved it)")
    if event.attributes.get("RETRY_ATTEMPTS"):
        lines.append(f"retries: {event.attributes['RETRY_ATTEMPTS']}")
    if event.job_id != "-":
        lines.append(f"dashboard: {cfg.dashboard_base_url.rstrip('/')}/dashboard/jobs/{event.job_id}/")
    lines.append("The event stays in the DLQ for 14 days: replay it to its handler once the cause is fixed.")
    # Slack mrkdwn: &, < and > are control characters (links, mentions).
    text = "\n".join(lines).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return redact(text)


def alert(body: str, message_attributes: dict[str, Any] | None = None) -> str:
    """Alert on one undelivered event. Returns slack_webhook.SENT or OFF; raises
    WebhookFailed when Slack doesn't take it (the message then stays in the DLQ)."""
    return slack_webhook.post(text=alert_text(parse(body, message_attributes)))
