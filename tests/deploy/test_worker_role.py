"""infra/worker-role.yaml allows every AWS call a real worker makes, and no more than it
names: a stage deployed into the emulator (template.yaml, then worker-role.yaml), a burst
worker run through its paths (success with artifacts and S3 pointers, heartbeats, retry,
final failure, a cancelled job, an agent without credentials) with
JOBMANAGER_AWS_CALLS_LOG set, and each recorded call checked against the deployed policy:
its IAM action and the ARN of the resource it names. A call the policy doesn't cover, on
a resource it doesn't name, fails the test (as it would fail the worker in AWS)."""

from __future__ import annotations

import json
import os
from fnmatch import fnmatchcase
from typing import Any

import pytest

from deploy.stacks import Aws, stack_specs
from jobmanager.aws import artifacts
from jobmanager.aws.clients import client
from jobmanager.aws.metering import CALLS_LOG_VARIABLE
from jobmanager.domain.ids import new_ulid
from jobmanager.domain.model import DefinitionKind
from jobmanager.local.stack import deploy_stack, stack_environment
from tests.conftest import REGION, reset_aws_caches
from tests.consumer.harness import define, run_burst, send

from .conftest import policy_document

STAGE = "iamcheck"
ACCOUNT = "123456789012"

# The IAM action each API operation needs, where it isn't service:Operation.
ACTIONS = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}


def iam_requests(call: dict[str, Any]) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs a recorded call needs."""
    service, operation, resource = call["service"], call["operation"], call["resource"]
    action = ACTIONS.get((service, operation), f"{service}:{operation}")
    if service == "s3":
        bucket = f"arn:aws:s3:::{resource['Bucket']}"
        if "Key" not in resource:
            return [(action, bucket)]
        # Reading a key that may not exist (a cancel marker, a recorded outcome) needs
        # ListBucket too: without it S3 answers 403 instead of 404.
        extra = [("s3:ListBucket", bucket)] if action == "s3:GetObject" else []
        return [(action, f"{bucket}/{resource['Key']}"), *extra]
    if service == "sqs":
        return [(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{resource['QueueUrl'].rsplit('/', 1)[1]}")]
    if service == "dynamodb":
        return [(action, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{resource['TableName']}")]
    if service == "events":
        [bus] = resource["EventBusNames"]
        return [(action, f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}")]
    raise AssertionError(f"a worker called {service}:{operation}, which no statement could cover")


def allowed(document: dict[str, Any], action: str, arn: str) -> bool:
    def listed(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(action, pattern) for pattern in listed(statement["Action"]))
        and any(fnmatchcase(arn, pattern) for pattern in listed(statement["Resource"]))
        for statement in document["Statement"]
    )


@pytest.fixture(scope="module")
def stage(aws_stack) -> dict[str, Any]:
    """The stage's resources and the worker policy, deployed as `python -m deploy` does."""
    endpoint = aws_stack["endpoint_url"]
    outputs = deploy_stack(endpoint_url=endpoint, stage=STAGE, region=REGION)
    [spec] = [s for s in stack_specs(STAGE) if s.template.name == "worker-role.yaml"]
    role = Aws(region=REGION, endpoint_url=endpoint).deploy(spec)
    iam = client("iam")
    policy = iam.get_policy(PolicyArn=role["WorkerPolicyArn"])["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    attached = iam.list_attached_role_policies(RoleName=role["WorkerRoleArn"].rsplit("/", 1)[1])
    profile = iam.get_instance_profile(InstanceProfileName=role["WorkerInstanceProfileName"])
    return {
        "env": stack_environment(outputs, endpoint_url=endpoint, region=REGION, stage=STAGE),
        "outputs": outputs,
        "policy": policy_document(version["PolicyVersion"]["Document"]),
        "attached": [p["PolicyArn"] for p in attached["AttachedPolicies"]],
        "profile_roles": [r["Arn"] for r in profile["InstanceProfile"]["Roles"]],
        "role": role,
    }


@pytest.fixture
def on_stage(stage, monkeypatch):
    """This test process (definitions, messages, markers) works on the stage too."""
    for name, value in stage["env"].items():
        monkeypatch.setenv(name, value)
    reset_aws_caches()
    yield stage
    monkeypatch.undo()
    reset_aws_caches()


def test_the_role_is_for_ec2_hosts_and_carries_the_policy(stage):
    assert stage["attached"] == [stage["role"]["WorkerPolicyArn"]]
    assert stage["profile_roles"] == [stage["role"]["WorkerRoleArn"]]
    # and the policy names this stage's resources (imported from template.yaml's exports)
    resources = json.dumps(stage["policy"])
    for name in ("TaskQueueArn", "EventBusArn", "TaskDefinitionsTableArn", "ArtifactsBucketArn"):
        assert stage["outputs"][name] in resources, name
    assert stage["outputs"]["EventsTableArn"] not in resources  # a worker never touches the event store


def permitted(policy: dict[str, Any], call: dict[str, Any]) -> bool:
    return all(allowed(policy, action, arn) for action, arn in iam_requests(call))


def test_the_policy_check_refuses_what_the_policy_does_not_name(stage):
    policy, outputs = stage["policy"], stage["outputs"]
    queue, bucket = outputs["TaskQueueUrl"], outputs["ArtifactsBucketName"]
    assert permitted(policy, {"service": "sqs", "operation": "ReceiveMessage", "resource": {"QueueUrl": queue}})
    assert permitted(policy, {"service": "s3", "operation": "HeadObject", "resource": {"Bucket": bucket, "Key": "k"}})
    # the dispatcher's job, not a worker's
    assert not permitted(policy, {"service": "sqs", "operation": "SendMessage", "resource": {"QueueUrl": queue}})
    assert not permitted(policy, {"service": "dynamodb", "operation": "PutItem",
                                  "resource": {"TableName": outputs["TaskDefinitionsTableName"]}})
    assert not permitted(policy, {"service": "dynamodb", "operation": "GetItem",
                                  "resource": {"TableName": outputs["EventsTableName"]}})
    assert not permitted(policy, {"service": "s3", "operation": "PutObject",
                                  "resource": {"Bucket": "someone-elses-bucket", "Key": "k"}})
    assert not permitted(policy, {"service": "s3", "operation": "DeleteObject", "resource": {"Bucket": bucket, "Key": "k"}})


def test_every_call_a_worker_makes_is_allowed_by_the_worker_policy(on_stage, tmp_path):
    # Given tasks that take each of the worker's paths
    writes = "import os, sys, time; time.sleep(1.5); os.makedirs('out', exist_ok=True); open('out/r.txt', 'w').write('r'); print(sys.argv[1] * 300)"
    target = {"queue_url": on_stage["outputs"]["TaskQueueUrl"]}
    job_id, cancelled = new_ulid(), new_ulid()
    upstream = artifacts.put_text(f"jobs/{job_id}/outputs/up.txt", "upstream output")
    writer = define("iam-writes", command=("python", "-c", writes, "{tasks.up.output}"))
    send(target, writer, job_id=job_id, task_id="writes", upstream={"up": {"outputRef": upstream}})
    send(target, define("iam-tempfail", command=("python", "-c", "raise SystemExit(75)")), task_id="tempfail")
    send(target, define("iam-agent", kind=DefinitionKind.AGENT, instructions="Hello."), task_id="agent")
    artifacts.put_text(artifacts.cancel_marker_key(cancelled), "cancelled")
    send(target, writer, job_id=cancelled, task_id="cancelled", upstream={"up": {"output": "x"}})
    calls_log = tmp_path / "aws-calls.jsonl"

    # When a worker (and its task processes) run them with the stage's settings only
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ANTHROPIC_", "CLAUDE_CODE_"))}
    env.update({CALLS_LOG_VARIABLE: str(calls_log), "WORK_ROOT": str(tmp_path / "work"), "WAIT_TIME_SECONDS": "1",
                "INLINE_OUTPUT_LIMIT": "100", "VISIBILITY_EXTENSION_INTERVAL": "300",
                "DJANGO_SECRET_KEY": "worker-tests-not-a-real-secret", "PYTHONUNBUFFERED": "1"})
    worker = run_burst(target, "--retry-backoff", "0", env=env)

    # Then it took every path (its log says so) ...
    for line in (f"task completed job={job_id} task=writes", "task=tempfail attempt=3/3 in", "task=agent attempt=1",
                 f"job {cancelled} is cancelled: task cancelled not started"):
        assert line in worker.output, worker.output
    calls = [json.loads(line) for line in calls_log.read_text().splitlines()]
    operations = {(c["service"], c["operation"]) for c in calls}
    assert {("sqs", "ReceiveMessage"), ("sqs", "DeleteMessage"), ("sqs", "ChangeMessageVisibility"),
            ("events", "PutEvents"), ("dynamodb", "GetItem"), ("s3", "PutObject"), ("s3", "GetObject"),
            ("s3", "HeadObject")} <= operations, operations
    # ... and the policy allows each call on the resource it named
    refused = [call for call in calls if not permitted(on_stage["policy"], call)]
    assert not refused, "\n".join(f"{iam_requests(call)}: {call}" for call in refused)
