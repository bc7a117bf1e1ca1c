"""CloudFormation and SSM for the deploy: create-or-update a stack and wait, read outputs,
read a stage's configuration. boto3 only (no AWS CLI needed); ``endpoint_url`` points it
at the local emulator in tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

INFRA = Path(__file__).resolve().parents[1] / "infra"


@dataclass(frozen=True)
class StackSpec:
    name: str
    template: Path
    parameters: Mapping[str, str]


def stack_specs(stage: str, *, function_arn: str | None = None) -> list[StackSpec]:
    """The seed's deploy order: infrastructure first, then what the function needs."""
    infra = {"Stage": stage, "Local": "false", **({"FunctionArn": function_arn} if function_arn is not None else {})}
    return [
        StackSpec(f"job-manager-{stage}", INFRA / "template.yaml", infra),
        StackSpec(f"job-manager-db-{stage}", INFRA / "database.yaml", {"Stage": stage}),
        StackSpec(f"job-manager-role-{stage}", INFRA / "function-role.yaml", {"Stage": stage}),
        StackSpec(f"job-manager-worker-{stage}", INFRA / "worker-role.yaml", {"Stage": stage}),
    ]


class Aws:
    def __init__(self, *, region: str, endpoint_url: str | None = None) -> None:
        self.region = region
        session = boto3.session.Session(region_name=region)
        kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
        self.cloudformation = session.client("cloudformation", **kwargs)
        self.ssm = session.client("ssm", **kwargs)
        self.sts = session.client("sts", **kwargs)
        self.lambda_ = session.client("lambda", **kwargs)

    def account_id(self) -> str:
        return self.sts.get_caller_identity()["Account"]

    def deploy(self, spec: StackSpec) -> dict[str, str]:
        """Create or update ``spec`` and wait; parameters not given keep their value."""
        existing = self._describe(spec.name)
        given = [{"ParameterKey": k, "ParameterValue": v} for k, v in spec.parameters.items()]
        kept = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                for p in (existing or {}).get("Parameters", []) if p["ParameterKey"] not in spec.parameters]
        common = {"StackName": spec.name, "TemplateBody": spec.template.read_text(),
                  "Parameters": given + kept, "Capabilities": ["CAPABILITY_NAMED_IAM"]}
        if existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS":
            self.cloudformation.create_stack(**common, OnFailure="ROLLBACK")
            waiter = "stack_create_complete"
        else:
            try:
                self.cloudformation.update_stack(**common)
            except ClientError as error:
                if "No updates are to be performed" not in str(error):
                    raise
                return self.outputs(spec.name)
            waiter = "stack_update_complete"
        self.cloudformation.get_waiter(waiter).wait(StackName=spec.name, WaiterConfig={"Delay": 5, "MaxAttempts": 720})
        return self.outputs(spec.name)

    def outputs(self, name: str) -> dict[str, str]:
        stack = self._describe(name)
        if stack is None:
            raise RuntimeError(f"stack {name} does not exist")
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            stacks = self.cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
        live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
        return live[0] if live else None

    def function_arn(self, name: str) -> str:
        """The function's ARN, or "" while it does not exist (the first deploy)."""
        try:
            return self.lambda_.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return ""
            raise

    def stage_config(self, stage: str, names: Iterable[str]) -> dict[str, str]:
        """SSM parameters ``/job-manager/<stage>/<NAME>`` (SecureString decrypted)."""
        wanted, found = set(names), {}
        paginator = self.ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=f"/job-manager/{stage}/", WithDecryption=True):
            for parameter in page["Parameters"]:
                name = parameter["Name"].rsplit("/", 1)[-1]
                if name in wanted:
                    found[name] = parameter["Value"]
        return found

    def ensure_secret_key(self, stage: str) -> None:
        """Generate Django's secret key once per stage, straight into SSM."""
        try:
            self.ssm.put_parameter(Name=f"/job-manager/{stage}/DJANGO_SECRET_KEY", Type="SecureString",
                                   Value=secrets.token_urlsafe(50), Overwrite=False)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise
