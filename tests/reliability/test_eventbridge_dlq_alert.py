"""The EventBridge target DLQ: an event a rule's handler keeps failing on is moved, after
its last retry, to the DLQ with the error (as EventBridge does), and the alert handler
posts it to Slack through the incoming webhook (the real slack-sdk client against a fake
on loopback), naming the event type, job, task and error. Without a webhook the alert is
logged; a webhook that fails leaves the record for another try; the URL is never logged."""

from __future__ import annotations

import json
import logging

import pytest

from jobmanager.aws.clients import client
from jobmanager.config import get_config
from jobmanager.domain.ids import new_ulid, now_iso
from jobmanager.local import runner as local_runner
from lambdas import eventbridge_dlq_alert
from tests.fakes.slack_webhook import SECRET_PATH, FakeWebhook


@pytest.fixture
def webhook(env):
    fake = FakeWebhook().start()
    env({"SLACK_WEBHOOK_URL": fake.url})
    yield fake
    fake.stop()


def record(body: dict, message_id: str = "m-1", **attributes: str) -> dict:
    return {"messageId": message_id, "body": json.dumps(body),
            "messageAttributes": {k: {"stringValue": v, "dataType": "String"} for k, v in attributes.items()}}


def test_an_event_no_handler_could_take_is_alerted_with_its_error(webhook, runner, monkeypatch, caplog):
    # Given handlers that fail on an event (here: it has no tenantId), retried at once
    monkeypatch.setattr(local_runner, "RETRY_BACKOFF_SECONDS", 0)
    caplog.set_level(logging.INFO)
    detail = {"eventId": new_ulid(), "eventType": "Task Completed", "timestamp": now_iso(), "appName": "test",
              "source": "worker", "jobId": "01JOBWITHOUTTENANT00000000", "taskId": "lost-task", "data": {}}

    # When it is put on the bus
    client("events").put_events(Entries=[{"Source": "job-manager.test", "DetailType": "log-event",
                                          "Detail": json.dumps(detail), "EventBusName": get_config().event_bus_name}])

    # Then, after each rule's last retry, one alert per rule reaches Slack, saying what and why
    texts = sorted(webhook.wait_for(2, timeout=60))
    assert len(texts) == 2
    for text, handler in zip(texts, ("lambdas.dispatcher.handler", "lambdas.save_event_to_dynamo.handler"),
                             strict=True):
        assert "EventBridge could not deliver Task Completed" in text
        assert "job `01JOBWITHOUTTENANT00000000`" in text and "task `lost-task`" in text
        assert f"event `{detail['eventId']}`" in text and f"target: `{handler}`" in text
        assert "error: ValidationFailed: malformed event detail: KeyError('tenantId')" in text
        assert "retries: 3" in text
    assert SECRET_PATH not in caplog.text


def test_the_aws_shape_original_event_and_error_attributes(webhook):
    event = {"version": "0", "id": "evt-1", "detail-type": "log-event", "source": "job-manager.worker",
             "detail": {"eventId": "01EVT", "eventType": "Task Failed", "tenantId": "acme", "jobId": "01JOB",
                        "taskId": "t-1"}}
    result = eventbridge_dlq_alert.handler({"Records": [record(
        event, ERROR_CODE="SDK_CLIENT_ERROR", ERROR_MESSAGE="Lambda returned function error <boom> & more",
        RULE_ARN="arn:aws:events:eu-west-1:1:rule/job-manager-prod/prod-task-dispatcher", RETRY_ATTEMPTS="3")]})
    assert result == {"batchItemFailures": []}
    (text,) = webhook.texts
    assert "could not deliver Task Failed" in text and "job `01JOB`" in text and "tenant `acme`" in text
    assert "rule `prod-task-dispatcher`" in text
    assert "error: SDK_CLIENT_ERROR: Lambda returned function error &lt;boom&gt; &amp; more" in text


def test_without_a_webhook_the_alert_is_logged_and_the_record_done(env, caplog):
    env({"SLACK_WEBHOOK_URL": None})
    caplog.set_level(logging.WARNING)
    body = {"command": "lambdas.dispatcher.handler",
            "detail": {"eventId": "01EVT", "eventType": "Task Completed", "jobId": "01JOB", "taskId": "t-1"}}
    assert eventbridge_dlq_alert.handler({"Records": [record(body)]}) == {"batchItemFailures": []}
    assert "SLACK_WEBHOOK_URL is not set" in caplog.text
    assert "could not deliver Task Completed" in caplog.text and "not recorded" in caplog.text


def test_a_failing_webhook_leaves_the_record_for_another_try_and_never_logs_its_url(webhook, caplog):
    webhook.status = 500
    caplog.set_level(logging.DEBUG)
    body = {"command": "lambdas.dispatcher.handler", "detail": {"eventType": "Task Failed", "jobId": "01JOB"}}
    result = eventbridge_dlq_alert.handler({"Records": [record(body, "m-ok"), record(body, "m-2")]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-ok"}, {"itemIdentifier": "m-2"}]}
    assert "Slack webhook answered 500" in caplog.text
    assert SECRET_PATH not in caplog.text and webhook.url not in caplog.text
