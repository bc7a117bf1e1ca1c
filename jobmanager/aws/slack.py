"""Slack alerts through slack-sdk's ``WebClient`` (a bot token and a channel).

Slack is off unless both SLACK_BOT_TOKEN and ALERT_CHANNEL are set: alerts are then still
recorded (``Health Alert`` events, shown on the dashboard), and a log line says Slack is
off and which setting is missing. A Slack failure is returned, never raised: an outage of
the alert channel must not break the health check. SLACK_API_BASE_URL points the client
at another Web API (the tests' fake on loopback). The token never reaches a log line:
failures are logged by Slack's error code, redacted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from jobmanager.config import get_config
from jobmanager.domain.redaction import redact

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10  # a hung Slack must not eat the scheduled Lambda's 60 s

SENT = "sent"
OFF = "off"
FAILED = "failed"


@dataclass(frozen=True)
class PostResult:
    status: str  # SENT | OFF | FAILED
    error: str = ""
    ts: str | None = None


class SlackNotifier:
    def __init__(self, *, token: str, channel: str, base_url: str = "") -> None:
        self.channel = channel
        kwargs: dict[str, Any] = {"token": token, "timeout": TIMEOUT_SECONDS}
        if base_url:
            kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
        self._client = WebClient(**kwargs)

    def post(self, *, text: str, blocks: list[dict[str, Any]] | None = None) -> PostResult:
        try:
            response = self._client.chat_postMessage(
                channel=self.channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:  # Slack answered, with ok=false (channel_not_found, invalid_auth, ...)
            answer = exc.response
            code = str(answer.get("error") or "") if answer is not None else "?"
            if answer is not None and answer.status_code != 200:  # a 5xx or a proxy's error page
                code = f"HTTP {answer.status_code}" + (f": {code}" if code else "")
            log.warning("Slack rejected an alert for channel %s: %s", self.channel, redact(code))
            return PostResult(FAILED, error=redact(f"slack error: {code}")[:300])
        except Exception as exc:  # no answer: connection refused, DNS, timeout
            message = redact(f"{exc.__class__.__name__}: {exc}")[:300]
            log.warning("could not post an alert to Slack channel %s: %s", self.channel, message)
            return PostResult(FAILED, error=message)
        return PostResult(SENT, ts=response.get("ts"))


_told_off = False


def get_notifier() -> SlackNotifier | None:
    """The configured notifier, or None when Slack is off (said once per process)."""
    global _told_off
    cfg = get_config()
    if cfg.slack_bot_token and cfg.alert_channel:
        return SlackNotifier(token=cfg.slack_bot_token, channel=cfg.alert_channel, base_url=cfg.slack_api_base_url)
    if not _told_off:
        missing = [name for name, value in (("SLACK_BOT_TOKEN", cfg.slack_bot_token),
                                            ("ALERT_CHANNEL", cfg.alert_channel)) if not value]
        log.warning("Slack is off (%s not set): health alerts are recorded as Health Alert events and shown "
                    "on the dashboard's health page, but not posted", " and ".join(missing))
        _told_off = True
    return None


def escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
