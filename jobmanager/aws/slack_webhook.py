"""Slack through an incoming webhook (``SLACK_WEBHOOK_URL``): the seed's channel for
EventBridge delivery failures. (Health alerts use the bot token: ``slack.py``.)

The URL is the credential, so it never reaches a log line: slack-sdk's client logs the
request URL at INFO when it retries, and some errors quote it; its logger here is quiet
below WARNING and scrubs the URL from whatever it does log, and so does every message
this module writes or raises.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.webhook import WebhookClient

from jobmanager.config import get_config
from jobmanager.domain.errors import JobManagerError
from jobmanager.domain.redaction import redact

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
SENT = "sent"
OFF = "off"
_PLACEHOLDER = "<SLACK_WEBHOOK_URL>"


class WebhookFailed(JobManagerError):
    status_code = 502
    code = "webhook_failed"


class _ScrubUrl(logging.Filter):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _scrub(record.getMessage(), self.url)
        record.args = None
        return True


def _scrub(text: str, url: str) -> str:
    return redact(text.replace(url, _PLACEHOLDER) if url else text)


def _sdk_logger(url: str) -> logging.Logger:
    sdk_log = logging.getLogger("jobmanager.aws.slack_webhook.sdk")
    sdk_log.setLevel(logging.WARNING)  # slack-sdk logs the URL at INFO/DEBUG
    sdk_log.filters = [_ScrubUrl(url)]
    return sdk_log


def post(*, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
    """Post a message. Returns SENT, or OFF when no webhook is configured (said in the
    log, with the message's text, so the alert is not lost silently). Raises
    WebhookFailed when Slack doesn't take it, so the caller can retry."""
    url = get_config().slack_webhook_url
    if not url:
        log.warning("SLACK_WEBHOOK_URL is not set, so this alert was not posted to Slack: %s", redact(text))
        return OFF
    client = WebhookClient(url, timeout=TIMEOUT_SECONDS, logger=_sdk_logger(url))
    try:
        response = client.send(text=text, blocks=blocks)
    except Exception as exc:  # network, timeout, a malformed URL
        raise WebhookFailed(_scrub(f"Slack webhook unreachable: {exc.__class__.__name__}: {exc}", url)) from None
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(_scrub(f"Slack webhook answered {response.status_code}: {response.body[:200]}", url))
    return SENT
