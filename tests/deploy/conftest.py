"""Deploy fixtures: zappa_settings.json rendered with the outputs a real account would give."""

from __future__ import annotations

import ast
import json
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from deploy import zappa_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "eu-west-1"


def stack_values(stage: str) -> dict[str, str]:
    """What the three stacks output in an account (names as infra/*.yaml make them)."""
    sqs = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}"
    return {
        "AccountId": ACCOUNT,
        "Region": REGION,
        "EventsTableName": f"events-{stage}",
        "TaskDefinitionsTableName": f"task-definitions-{stage}",
        "EventBusName": f"job-manager-{stage}",
        "TaskQueueUrl": f"{sqs}/task-queue-{stage}",
        "TaskDLQUrl": f"{sqs}/task-queue-dlq-{stage}",
        "TaskDLQArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:task-queue-dlq-{stage}",
        "EventBridgeTargetDLQUrl": f"{sqs}/{stage}-eventbridge-target-dlq",
        "EventBridgeTargetDLQArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{stage}-eventbridge-target-dlq",
        "ArtifactsBucketName": f"job-manager-artifacts-{stage}-{ACCOUNT}",
        "DatabaseSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:job-manager/{stage}/database-AbCdEf",
        "LambdaRoleArn": f"arn:aws:iam::{ACCOUNT}:role/job-manager-{stage}-function",
        "PrivateSubnetIds": "subnet-0aaa,subnet-0bbb",
        "LambdaSecurityGroupId": "sg-0ccc",
    }


def rendered(stage: str, **stage_config: str) -> dict:
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    return zappa_config.render(settings, stage=stage, values=stack_values(stage),
                               stage_config={"DJANGO_SECRET_KEY": "s" * 50, **stage_config})


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, ...) read as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else loader.construct_scalar(node)))


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


def policy_document(document: str | dict[str, Any]) -> dict[str, Any]:
    """An IAM policy document as moto returns it: a dict, JSON, or (for one that
    CloudFormation created) the URL-quoted repr of a dict."""
    if isinstance(document, dict):
        return document
    text = urllib.parse.unquote(document)
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)
