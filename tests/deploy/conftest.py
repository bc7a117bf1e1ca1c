"""Deploy fixtures: zappa_settings.json rendered with the outputs a real account would give."""

from __future__ import annotations

import json
from pathlib import Path

from deploy import zappa_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "eu-west-1"


def stack_values(stage: str) -> dict[str, str]:
    """What the three stacks output in an account (names as infra/*.yaml make them)."""
    sqs = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}"
    return {
        "AccountId": ACCOUNT,
        "Region": REGION,
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
