"""The Slack adapter: the real slack-sdk WebClient against the fake Web API on loopback."""

from __future__ import annotations

import logging

from jobmanager.aws import slack
from jobmanager.config import get_config
from tests.helpers import free_port, set_env

from .conftest import CHANNEL, TOKEN


def test_a_message_reaches_the_channel_with_the_bot_token(fake_slack):
    notifier = slack.SlackNotifier(token=TOKEN, channel=CHANNEL, base_url=fake_slack.url)

    result = notifier.post(text="hello", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}])

    assert result.status == slack.SENT and result.ts
    (posted,) = fake_slack.messages()
    assert (posted.token, posted.channel, posted.text) == (TOKEN, CHANNEL, "hello")
    assert posted.blocks[0]["text"]["text"] == "*hi*"
    assert posted.body["unfurl_links"] is False  # the dashboard link shouldn't grow a preview


def test_slack_unreachable_is_a_failed_result_not_an_exception(caplog):
    port = free_port()  # a port nobody listens on
    notifier = slack.SlackNotifier(token=TOKEN, channel=CHANNEL, base_url=f"http://127.0.0.1:{port}/api/")

    with caplog.at_level(logging.WARNING):
        result = notifier.post(text="hello")

    assert result.status == slack.FAILED and "URLError" in result.error
    assert "could not post an alert to Slack channel #ops-alerts" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in result.error


def test_slack_is_off_unless_token_and_channel_are_both_set(caplog, monkeypatch):
    monkeypatch.setattr(slack, "_told_off", False)
    before = set_env({"SLACK_BOT_TOKEN": TOKEN, "ALERT_CHANNEL": None})
    try:
        with caplog.at_level(logging.WARNING):
            assert slack.get_notifier() is None
            assert slack.get_notifier() is None
        assert caplog.text.count("Slack is off (ALERT_CHANNEL not set)") == 1  # said once, not every run
        set_env({"ALERT_CHANNEL": CHANNEL})
        assert isinstance(slack.get_notifier(), slack.SlackNotifier)
    finally:
        set_env(before)


def test_the_token_never_shows_in_the_config_repr():
    before = set_env({"SLACK_BOT_TOKEN": TOKEN})
    try:
        assert get_config().slack_bot_token == TOKEN
        assert TOKEN not in repr(get_config())
    finally:
        set_env(before)


def test_mrkdwn_control_characters_are_escaped():
    assert slack.escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
