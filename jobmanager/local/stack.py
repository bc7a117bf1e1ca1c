"""Deploy infra/template.yaml into the local emulator and describe what it created.

The same template is deployed to AWS (Local=false); here it goes, unchanged, into
moto's CloudFormation with Local=true, so the EventBridge rules target local SQS
queues (moto cannot invoke Lambda targets). ``local_rule_routes`` tells the local
runner which queue feeds which handler.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"

# The target InputTemplate is '{"command": "module.func", "detail": <detail>}': not JSON
# (the <detail> placeholder), so the command is picked out with a pattern.
_COMMAND = re.compile(r'"command"\s*:\s*"([\w.]+)"')


@dataclass(frozen=True)
class RuleRoute:
    """Events matched by ``rule_name`` arrive in ``queue_url``; call ``command`` with each body."""

    rule_name: str
    queue_url: str
    command: str  # "lambdas.dispatcher.handler": what Zappa would call in production
    # From the queue's redrive policy: where EventBridge would put an event it gave up on.
    dead_letter_url: str = ""
    max_receives: int = 0


@dataclass(frozen=True)
class SqsSource:
    """Messages of ``queue_url`` go to ``handler`` as a Lambda SQS event, ``{"Records": [...]}``
    — what an SQS event source mapping does in production."""

    name: str
    queue_url: str
    handler: str


# Production's SQS event sources: (the environment variable holding the queue URL, handler).
LOCAL_SQS_SOURCES = (
    ("TASK_DLQ_URL", "lambdas.dlq_processor.handler"),
    ("EVENTBRIDGE_TARGET_DLQ_URL", "lambdas.eventbridge_dlq_alert.handler"),
)


def local_sqs_sources(env: Mapping[str, str]) -> list[SqsSource]:
    """The SQS sources whose queue this environment names."""
    return [SqsSource(name=var.removesuffix("_URL").lower(), queue_url=env[var], handler=handler)
            for var, handler in LOCAL_SQS_SOURCES if env.get(var)]


def _client(service: str, endpoint_url: str, region: str) -> Any:
    # Use the environment's credentials when set; moto accepts anything.
    has_credentials = bool(os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))
    fake = {} if has_credentials else {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region, **fake)


def stack_name(stage: str) -> str:
    return f"job-manager-{stage}"


def deploy_stack(
    *,
    endpoint_url: str,
    stage: str = "local",
    region: str = "eu-west-1",
    local: bool = True,
    template_path: Path | None = None,
) -> dict[str, str]:
    """Create the stack ``job-manager-<stage>`` unless it exists; return its outputs."""
    cloudformation = _client("cloudformation", endpoint_url, region)
    name = stack_name(stage)
    stack = _describe(cloudformation, name)
    if stack is None:
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=(template_path or DEFAULT_TEMPLATE).read_text(),
            Parameters=[
                {"ParameterKey": "Stage", "ParameterValue": stage},
                {"ParameterKey": "Local", "ParameterValue": "true" if local else "false"},
            ],
        )
    if stack is None or stack["StackStatus"].endswith("_IN_PROGRESS"):
        waiter = cloudformation.get_waiter("stack_create_complete")
        waiter.wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        stack = _describe(cloudformation, name)
    assert stack is not None
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise RuntimeError(f"stack {name} is {stack['StackStatus']}: delete it and deploy again")

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    _ensure_ttl(_client("dynamodb", endpoint_url, region), outputs["EventsTableName"])
    return outputs


def _describe(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def _ensure_ttl(dynamodb: Any, table: str) -> None:
    """moto ignores TimeToLiveSpecification. AWS rejects enabling TTL twice, so check first."""
    status = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True}
        )


def stack_environment(outputs: dict[str, str], *, endpoint_url: str, region: str, stage: str) -> dict[str, str]:
    """The environment variables the app, lambdas and workers read, from the stack outputs."""
    return {
        "EVENTS_TABLE": outputs["EventsTableName"],
        "TASK_QUEUE_URL": outputs["TaskQueueUrl"],
        "SQS_QUEUE_URL": outputs["TaskQueueUrl"],  # the worker's (seed) name for it
        "TASK_DLQ_URL": outputs["TaskDLQUrl"],
        "TASK_DEFINITIONS_TABLE": outputs["TaskDefinitionsTableName"],
        "EVENT_BUS_NAME": outputs["EventBusName"],
        "EVENTBRIDGE_BUS_NAME": outputs["EventBusName"],  # the worker's (seed) name for it
        "S3_BUCKET": outputs["ArtifactsBucketName"],
        "EVENTBRIDGE_TARGET_DLQ_URL": outputs["EventBridgeTargetDLQUrl"],
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "STAGE": stage,
    }


def local_rule_routes(*, endpoint_url: str, region: str, bus_name: str) -> list[RuleRoute]:
    """Every (rule, SQS target) on the bus whose input names a handler command."""
    events = _client("events", endpoint_url, region)
    sqs = _client("sqs", endpoint_url, region)
    routes: list[RuleRoute] = []
    for rule in _pages(events.list_rules, "Rules", EventBusName=bus_name):
        targets = _pages(events.list_targets_by_rule, "Targets", Rule=rule["Name"], EventBusName=bus_name)
        for target in targets:
            arn: str = target["Arn"]
            match = _COMMAND.search(target.get("InputTransformer", {}).get("InputTemplate", ""))
            if arn.split(":")[2:3] != ["sqs"] or not match:
                continue
            queue_url = sqs.get_queue_url(QueueName=arn.split(":")[-1])["QueueUrl"]
            dead_letter_url, max_receives = _redrive(sqs, queue_url)
            routes.append(RuleRoute(rule_name=rule["Name"], queue_url=queue_url, command=match.group(1),
                                    dead_letter_url=dead_letter_url, max_receives=max_receives))
    return routes


def _redrive(sqs: Any, queue_url: str) -> tuple[str, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = json.loads(attributes.get("RedrivePolicy") or "{}")
    if not policy.get("deadLetterTargetArn"):
        return "", 0
    name = policy["deadLetterTargetArn"].split(":")[-1]
    return sqs.get_queue_url(QueueName=name)["QueueUrl"], int(policy.get("maxReceiveCount") or 0)


def _pages(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Follow NextToken (the events API has no paginator for every call)."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items.extend(page.get(key, []))
        if not page.get("NextToken"):
            return items
        kwargs["NextToken"] = page["NextToken"]
