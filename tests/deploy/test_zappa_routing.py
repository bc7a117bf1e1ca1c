"""What production delivers reaches the right handler through Zappa's real handler.

The edge here is Zappa: its ``LambdaHandler`` is built from the settings module Zappa's own
CLI writes into the package (``get_zappa_settings_string``, from the rendered
zappa_settings.json), then fed the exact payloads production sends it:

- each EventBridge rule of infra/template.yaml: its InputTransformer's output,
- each SQS event source (the DLQs): a Lambda SQS event from that queue's ARN,
- the health-check schedule: the event of the rule Zappa names after the function.

The handler functions are replaced by recorders; everything in between is Zappa's.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import uuid
from typing import Any

import pytest
from zappa.cli import ZappaCLI
from zappa.handler import LambdaHandler

from .conftest import ACCOUNT, REGION, ROOT, load_template, rendered

DETAIL = {"eventId": "01J0000000000000000000000A", "eventType": "Task Completed", "jobId": "j1", "taskId": "a",
          "tenantId": "t", "timestamp": "2026-12-03T18:00:00.123Z", "attempt": 1, "source": "worker", "data": {}}


def rule_inputs() -> list[tuple[str, str]]:
    """(rule logical id, InputTemplate) of every rule target in infra/template.yaml."""
    template = load_template(ROOT / "infra" / "template.yaml")
    return [(name, target["InputTransformer"]["InputTemplate"])
            for name, resource in template["Resources"].items() if resource["Type"] == "AWS::Events::Rule"
            for target in resource["Properties"]["Targets"] if "InputTransformer" in target]


def eventbridge_delivers(input_template: str, detail: dict[str, Any]) -> dict[str, Any]:
    """What EventBridge sends the target: the template with <detail> replaced by $.detail."""
    return json.loads(input_template.replace("<detail>", json.dumps(detail)))


@pytest.fixture
def zappa(tmp_path, monkeypatch):
    """A factory: stage → (Zappa's LambdaHandler for that stage, the ZappaCLI that wrote it)."""
    saved_env, root_level = dict(os.environ), logging.getLogger().level
    monkeypatch.syspath_prepend(str(tmp_path))

    def build(stage: str) -> tuple[LambdaHandler, ZappaCLI]:
        settings_file = tmp_path / f"zappa_settings.{stage}.json"
        settings_file.write_text(json.dumps(rendered(stage)))
        cli = ZappaCLI()
        cli.api_stage = stage
        cli.load_settings(str(settings_file))
        module = f"zappa_settings_{stage}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module}.py").write_text(cli.get_zappa_settings_string())
        importlib.invalidate_caches()
        LambdaHandler._LambdaHandler__instance = None  # a fresh singleton per stage
        LambdaHandler.settings = None
        return LambdaHandler(module), cli

    yield build
    LambdaHandler._LambdaHandler__instance = None
    LambdaHandler.settings = None
    os.environ.clear()  # Zappa exported the stage's environment into this process
    os.environ.update(saved_env)
    logging.getLogger().setLevel(root_level)
    from tests.conftest import reset_aws_caches

    reset_aws_caches()


@pytest.fixture
def calls(monkeypatch):
    """Replace every handler production routes to with a recorder."""
    seen: list[tuple[str, Any]] = []
    names = {eventbridge_delivers(template, {})["command"] for _, template in rule_inputs()}
    names |= {"lambdas.dlq_processor.handler", "lambdas.eventbridge_dlq_alert.handler", "lambdas.health_check.handler"}
    for name in names:
        module_name, function = name.rsplit(".", 1)
        module = importlib.import_module(module_name)  # also proves the module exists and imports
        assert callable(getattr(module, function)), name

        def record(event, context=None, _name=name):
            seen.append((_name, event))
            return {"handled": _name}

        monkeypatch.setattr(module, function, record)
    return seen


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_rule_payload_reaches_the_handler_it_names(zappa, calls, stage):
    handler, _ = zappa(stage)
    inputs = rule_inputs()
    assert {name for name, _ in inputs} >= {"SaveEventRule", "DispatcherRule"}
    for _, template in inputs:
        # Given what EventBridge delivers for a Task Completed through this rule
        payload = eventbridge_delivers(template, DETAIL)
        calls.clear()
        # When Zappa's handler receives it
        result = handler.handler(payload, None)
        # Then the handler named in the payload ran, once, with the whole payload
        assert calls == [(payload["command"], payload)]
        assert result == {"handled": payload["command"]}
        assert payload["detail"] == DETAIL


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_dlq_event_source_reaches_its_handler(zappa, calls, stage):
    handler, cli = zappa(stage)
    sources = {e["event_source"]["arn"]: e["function"] for e in cli.stage_config["events"] if "event_source" in e}
    assert sources == {
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:task-queue-dlq-{stage}": "lambdas.dlq_processor.handler",
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{stage}-eventbridge-target-dlq": "lambdas.eventbridge_dlq_alert.handler",
    }
    for arn, function in sources.items():
        event = {"Records": [{
            "messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps({"jobId": "j1"}),
            "attributes": {"ApproximateReceiveCount": "4"}, "messageAttributes": {}, "eventSource": "aws:sqs",
            "eventSourceARN": arn, "awsRegion": REGION,
        }]}
        calls.clear()
        handler.handler(event, None)
        assert calls == [(function, event)]


def test_prod_runs_the_health_check_every_five_minutes_and_dev_never(zappa, calls):
    _, dev = zappa("dev")
    dev_schedule = [e for e in dev.stage_config["events"] if e["function"] == "lambdas.health_check.handler"]
    assert dev_schedule and all(e.get("enabled") is False for e in dev_schedule)

    handler, prod = zappa("prod")
    (schedule,) = [e for e in prod.stage_config["events"] if e["function"] == "lambdas.health_check.handler"]
    assert schedule["expression"] == "rate(5 minutes)" and schedule.get("enabled", True)
    # The rule Zappa creates for it is named after the function; the event carries that name.
    rule = prod.zappa.get_scheduled_event_name(schedule, schedule["function"], prod.lambda_name)
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT, "region": REGION,
             "time": "2026-12-03T18:05:00Z", "id": str(uuid.uuid4()), "version": "0", "detail": {},
             "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"], "kwargs": {}}
    calls.clear()
    handler.handler(event, None)
    assert calls == [("lambdas.health_check.handler", event)]


def test_a_raw_eventbridge_event_would_be_dropped_which_is_why_rules_transform_it(zappa, calls):
    """The reason for the InputTransformer: Zappa ignores a pattern-matched event as is."""
    handler, _ = zappa("prod")
    raw = {"version": "0", "id": "x", "detail-type": "log-event", "source": "job-manager", "account": ACCOUNT,
           "time": "2026-12-03T18:00:00Z", "region": REGION, "resources": [], "detail": DETAIL}
    assert handler.handler(raw, None) is None
    assert calls == []


def test_packaged_settings_name_real_modules_and_the_production_django_settings(zappa):
    _, cli = zappa("prod")
    assert cli.django_settings == "jobmanager.settings_production"
    assert cli.runtime == "python3.12"
    for event in cli.stage_config["events"]:
        module, function = event["function"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), function)), event["function"]

