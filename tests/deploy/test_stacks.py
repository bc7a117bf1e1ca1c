"""infra/*.yaml: cfn-lint clean, and deployed into the emulator's CloudFormation by the
deploy tool itself (``python -m deploy STAGE --infra-only``), in the seed's order.

moto's CloudFormation skips some resource types (SecretsManager, CodeBuild, CodePipeline,
QueuePolicy, Lambda::Permission) with a warning; cfn-lint checks those against AWS's own
resource specification, and the emulator proves everything else: the stacks create,
import each other's exports, and what the deploy renders for Zappa names their real
resources.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from zappa.cli import ZappaCLI

from deploy.__main__ import main as deploy_main
from deploy.stacks import Aws, StackSpec, stack_specs
from jobmanager.config import get_config
from jobmanager.local.emulator import Emulator, start_emulator

from .conftest import REGION, ROOT, load_template, policy_document

STAGE = "dev"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:job-manager-{STAGE}"


def test_cfn_lint_passes_on_every_template():
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), *map(str, sorted((ROOT / "infra").glob("*.yaml")))],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list((ROOT / "infra").glob("*.yaml"))) >= 4  # template, database, function-role, cicd


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    saved = dict(os.environ)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "SLACK_BOT_TOKEN": "xoxb-from-the-environment"})
    os.environ.pop("AWS_PROFILE", None)
    with start_emulator() as running:
        yield running
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def aws(emulator) -> Aws:
    return Aws(region=REGION, endpoint_url=emulator.endpoint_url)


@pytest.fixture(scope="module")
def deploy_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def first_deploy(emulator, aws, deploy_dir) -> dict:
    """The first deploy of a stage: no function yet. Returns the rendered Zappa settings."""
    aws.ssm.put_parameter(Name=f"/job-manager/{STAGE}/ALERT_CHANNEL", Value="#dev-alerts", Type="String")
    output = deploy_dir / "zappa_settings.json"
    assert _deploy(STAGE, emulator, output) == 0
    return json.loads(output.read_text())[STAGE]


def _deploy(stage: str, emulator: Emulator, output: Path) -> int:
    """``python -m deploy STAGE --infra-only`` against the emulator, writing next to ``output``."""
    return deploy_main([stage, "--infra-only", "--endpoint-url", emulator.endpoint_url, "--output", str(output),
                        "--worker-env", str(output.with_name(f"worker.{stage}.env"))])


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


def _stand_in_function(aws: Aws, stage: str) -> str:
    """The function ``zappa deploy`` creates, as a stand-in (moto can't run it); its ARN."""
    name = f"job-manager-{stage}"
    if not aws.function_arn(name):
        aws.lambda_.create_function(FunctionName=name, Runtime="python3.12", Handler="handler.lambda_handler",
                                    Role=aws.outputs(f"job-manager-role-{stage}")["LambdaRoleArn"],
                                    Code={"ZipFile": _zip()})
    return aws.function_arn(name)


def _client(emulator: Emulator, service: str):
    return boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=REGION)


def test_stacks_are_created_in_order_and_import_each_other(first_deploy, aws, emulator):
    statuses = {s["StackName"]: s["StackStatus"] for s in aws.cloudformation.describe_stacks()["Stacks"]}
    for name in (f"job-manager-{STAGE}", f"job-manager-db-{STAGE}", f"job-manager-role-{STAGE}"):
        assert statuses[name] == "CREATE_COMPLETE"
    # The role's policy names the infra stack's resources through its exports.
    policy = _client(emulator, "iam").get_role_policy(RoleName=f"job-manager-{STAGE}-function", PolicyName="job-manager")
    document = policy_document(policy["PolicyDocument"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    infra = aws.outputs(f"job-manager-{STAGE}")
    assert statements["EventStore"]["Resource"] == [infra["EventsTableArn"], infra["EventsTableArn"] + "/index/*"]
    assert statements["EnqueueTasks"]["Resource"] == infra["TaskQueueArn"]
    assert statements["PublishEvents"]["Resource"] == infra["EventBusArn"]


def test_database_is_private_encrypted_postgres_reachable_only_from_the_function(first_deploy, aws, emulator):
    (db,) = _client(emulator, "rds").describe_db_instances(DBInstanceIdentifier=f"job-manager-{STAGE}")["DBInstances"]
    assert db["Engine"] == "postgres" and db["StorageEncrypted"] and not db["PubliclyAccessible"]
    assert db["DBName"] == "jobmanager"
    outputs = aws.outputs(f"job-manager-db-{STAGE}")
    ec2 = _client(emulator, "ec2")
    # (moto's RDS ignores VPCSecurityGroups from CloudFormation: look the group up in the stack)
    group_id = aws.cloudformation.describe_stack_resource(
        StackName=f"job-manager-db-{STAGE}", LogicalResourceId="DatabaseSecurityGroup")["StackResourceDetail"][
        "PhysicalResourceId"]
    (rule,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (5432, 5432)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [outputs["LambdaSecurityGroupId"]]
    subnets = ec2.describe_subnets(SubnetIds=outputs["PrivateSubnetIds"].split(","))["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert {e["ServiceName"].rsplit(".", 1)[-1] for e in endpoints if e["VpcId"] == outputs["VpcId"]} >= {
        "dynamodb", "s3"}


def test_function_role_is_assumable_by_lambda_api_gateway_and_events(first_deploy, aws, emulator):
    role_arn = aws.outputs(f"job-manager-role-{STAGE}")["LambdaRoleArn"]
    role = _client(emulator, "iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
    principals = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert set(principals) == {"lambda.amazonaws.com", "apigateway.amazonaws.com", "events.amazonaws.com"}


def test_no_rule_targets_a_function_that_does_not_exist_yet(first_deploy, emulator):
    rules = _client(emulator, "events").list_rules(EventBusName=f"job-manager-{STAGE}")["Rules"]
    assert rules == []


def test_rendered_zappa_settings_name_the_stacks_resources_and_the_stage_config(first_deploy, aws):
    infra, db = aws.outputs(f"job-manager-{STAGE}"), aws.outputs(f"job-manager-db-{STAGE}")
    sources = {e["function"]: e["event_source"]["arn"] for e in first_deploy["events"] if "event_source" in e}
    assert sources == {"lambdas.dlq_processor.handler": infra["TaskDLQArn"],
                       "lambdas.eventbridge_dlq_alert.handler": infra["EventBridgeTargetDLQArn"]}
    assert first_deploy["vpc_config"] == {"SubnetIds": db["PrivateSubnetIds"].split(","),
                                          "SecurityGroupIds": [db["LambdaSecurityGroupId"]]}
    assert first_deploy["role_arn"] == aws.outputs(f"job-manager-role-{STAGE}")["LambdaRoleArn"]
    env = first_deploy["environment_variables"]
    # Every per-stage name comes from the infra stack's outputs, none is spelled in the repo.
    assert {name: env[name] for name in ("STAGE", "EVENTS_TABLE", "TASK_DEFINITIONS_TABLE", "EVENT_BUS_NAME",
                                         "TASK_QUEUE_URL", "TASK_DLQ_URL", "EVENTBRIDGE_TARGET_DLQ_URL",
                                         "S3_BUCKET")} == {
        "STAGE": STAGE, "EVENTS_TABLE": infra["EventsTableName"],
        "TASK_DEFINITIONS_TABLE": infra["TaskDefinitionsTableName"], "EVENT_BUS_NAME": infra["EventBusName"],
        "TASK_QUEUE_URL": infra["TaskQueueUrl"], "TASK_DLQ_URL": infra["TaskDLQUrl"],
        "EVENTBRIDGE_TARGET_DLQ_URL": infra["EventBridgeTargetDLQUrl"], "S3_BUCKET": infra["ArtifactsBucketName"]}
    assert env["DATABASE_SECRET_ID"] == f"job-manager/{STAGE}/database"
    assert "${" not in json.dumps(first_deploy)
    # Stage config: generated into SSM, read from SSM, or taken from the environment — and
    # only in the Lambda's configuration, never in the package's environment.
    secrets = first_deploy["aws_environment_variables"]
    stored = aws.ssm.get_parameter(Name=f"/job-manager/{STAGE}/DJANGO_SECRET_KEY", WithDecryption=True)
    assert secrets["DJANGO_SECRET_KEY"] == stored["Parameter"]["Value"] and len(secrets["DJANGO_SECRET_KEY"]) >= 50
    assert secrets["ALERT_CHANNEL"] == "#dev-alerts"
    assert secrets["SLACK_BOT_TOKEN"] == "xoxb-from-the-environment"
    assert not set(secrets) & set(env)


def test_workers_environment_names_the_stacks_resources_for_run_worker(first_deploy, aws, deploy_dir, monkeypatch):
    # Given the workers' environment file the deploy wrote (private: it holds a key)
    path = deploy_dir / f"worker.{STAGE}.env"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    values = dict(line.split("=", 1) for line in lines)
    # When a worker starts with it (and nothing else of this test's environment)
    for name in ("TASK_QUEUE_URL", "EVENT_BUS_NAME", "EVENTS_TABLE", "TASK_DEFINITIONS_TABLE", "S3_BUCKET", "STAGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_config.cache_clear()
    try:
        config = get_config()
    finally:
        get_config.cache_clear()
    # Then it works on the stage's queue, bus, tables and bucket
    infra = aws.outputs(f"job-manager-{STAGE}")
    assert (config.stage, config.region, config.task_queue_url, config.event_bus_name, config.events_table,
            config.task_definitions_table, config.s3_bucket) == (
        STAGE, REGION, infra["TaskQueueUrl"], infra["EventBusName"], infra["EventsTableName"],
        infra["TaskDefinitionsTableName"], infra["ArtifactsBucketName"])
    assert len(values["DJANGO_SECRET_KEY"]) >= 50


def test_once_the_function_exists_the_rules_target_it_with_zappa_command_payloads(first_deploy, aws, emulator):
    # Given the function Zappa deployed (a stand-in) and deploy step 6, which passes its ARN
    # (the other parameters keep their values)
    assert _stand_in_function(aws, STAGE) == FUNCTION_ARN
    aws.deploy(stack_specs(STAGE, function_arn=FUNCTION_ARN)[0])
    events = _client(emulator, "events")
    bus = f"job-manager-{STAGE}"
    commands = {}
    for rule in events.list_rules(EventBusName=bus)["Rules"]:
        (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert target["Arn"] == FUNCTION_ARN
        assert target["DeadLetterConfig"]["Arn"] == aws.outputs(bus)["EventBridgeTargetDLQArn"]
        template = target["InputTransformer"]["InputTemplate"]
        commands[rule["Name"]] = json.loads(template.replace("<detail>", "{}"))["command"]
    assert commands == {f"{STAGE}-save-event-to-dynamo": "lambdas.save_event_to_dynamo.handler",
                        f"{STAGE}-task-dispatcher": "lambdas.dispatcher.handler"}
    params = {p["ParameterKey"]: p["ParameterValue"] for p in aws.cloudformation.describe_stacks(
        StackName=bus)["Stacks"][0]["Parameters"]}
    assert params == {"Stage": STAGE, "Local": "false", "FunctionArn": FUNCTION_ARN}


def test_deploying_again_changes_nothing_and_keeps_the_secret_key(first_deploy, aws, emulator, tmp_path):
    output = tmp_path / "again.json"
    assert _deploy(STAGE, emulator, output) == 0
    again = json.loads(output.read_text())[STAGE]
    assert again["aws_environment_variables"]["DJANGO_SECRET_KEY"] == \
        first_deploy["aws_environment_variables"]["DJANGO_SECRET_KEY"]


# What moto's CloudFormation skips (with a warning) instead of creating, and why that is
# acceptable: cfn-lint checks each against AWS's own resource specification, and
#  - SQS::QueuePolicy, Lambda::Permission: who may send to the DLQ / invoke the function,
#    only meaningful where EventBridge really delivers (AWS);
#  - SecretsManager::Secret / SecretTargetAttachment: the generated database and admin
#    secrets; the code that reads them is tested against secrets created by API
#    (test_production_settings.test_database_from_a_secret, test_create_admin);
#  - CodeBuild::Project, CodePipeline::Pipeline: the CI/CD pipeline; buildspec.yml's
#    commands are what .ci/run runs here.
MOTO_SKIPS = {"AWS::SQS::QueuePolicy", "AWS::Lambda::Permission", "AWS::SecretsManager::Secret",
              "AWS::SecretsManager::SecretTargetAttachment", "AWS::CodeBuild::Project",
              "AWS::CodePipeline::Pipeline"}
CICD = StackSpec("job-manager-cicd", ROOT / "infra" / "cicd.yaml", {
    "ConnectionArn": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc",
    "RepositoryId": "example/job-manager"})


def test_every_template_in_infra_deploys_and_each_resource_is_created_or_a_known_moto_gap(first_deploy, aws):
    # Given the stage as AWS ends up after a deploy (its function exists, the rules target it)
    # and the CI/CD stack
    specs = stack_specs(STAGE, function_arn=_stand_in_function(aws, STAGE))
    for spec in (*specs, CICD):
        aws.deploy(spec)
    assert {spec.template.name for spec in (*specs, CICD)} == {p.name for p in (ROOT / "infra").glob("*.yaml")}
    # Conditions of template.yaml in AWS (Local=false, FunctionArn set)
    false_conditions = {"IsLocal"}
    for spec in (*specs, CICD):
        # When we compare what each template declares with what the emulator created
        declared = load_template(spec.template)["Resources"]
        # (after an update moto lists a skipped resource as a blank entry: not a resource)
        created = {r["LogicalResourceId"]: r for r in aws.cloudformation.list_stack_resources(
            StackName=spec.name)["StackResourceSummaries"] if r["LogicalResourceId"]}
        # Then every resource was created, but for its condition or a gap of moto's named above
        expected_missing = {name for name, resource in declared.items()
                            if resource["Type"] in MOTO_SKIPS or resource.get("Condition") in false_conditions}
        assert set(declared) - set(created) == expected_missing, spec.template.name
        assert all(created[name]["ResourceStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") for name in created)
        assert {created[name]["ResourceType"] for name in created} == {
            declared[name]["Type"] for name in created}, spec.template.name


def test_cicd_stack_deploys(aws):
    outputs = aws.deploy(CICD)
    assert outputs["ArtifactsBucketName"].startswith("job-manager-cicd-")
    assert outputs["BuildRoleArn"].endswith(":role/job-manager-cicd-build-eu-west-1")


def test_deploy_cli_explains_itself():
    done = subprocess.run([sys.executable, "-m", "deploy", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "infra/template.yaml" in done.stdout and "zappa update" in done.stdout


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_zappa_schedules_each_stages_health_check_and_dlq_sources_on_the_deployed_queues(
        stage, emulator, aws, monkeypatch, tmp_path):
    # Given the stage's stacks and its rendered settings (python -m deploy), and the function
    # Zappa deployed (a stand-in: moto can't run it)
    output = tmp_path / "zappa_settings.json"
    assert _deploy(stage, emulator, output) == 0
    infra, name = aws.outputs(f"job-manager-{stage}"), f"job-manager-{stage}"
    function_arn = _stand_in_function(aws, stage)

    # When Zappa's own CLI schedules the stage's events, as `zappa deploy`/`zappa update` do
    # (moto answers add_permission with 200 where AWS says 201: Zappa logs an error and goes on)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_settings(str(output))
    assert cli.lambda_name == name
    cli.schedule()

    # Then the health check runs every 5 minutes in prod and never in dev (a disabled rule)
    events = _client(emulator, "events")
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix=f"{name}-")["Rules"]}
    (health,) = [r for n, r in rules.items() if n.endswith("lambdas.health_check.handler")]
    expected = ("rate(5 minutes)", "ENABLED") if stage == "prod" else ("rate(365 days)", "DISABLED")
    assert (health["ScheduleExpression"], health["State"]) == expected
    (target,) = events.list_targets_by_rule(Rule=health["Name"])["Targets"]
    assert target["Arn"] == function_arn
    assert any(n.endswith("zappa-keep-warm-handler.keep_warm_callback") for n in rules) == (stage == "prod")
    # And each DLQ of the infra stack feeds its handler, one message at a time
    mappings = aws.lambda_.list_event_source_mappings(FunctionName=function_arn)["EventSourceMappings"]
    assert {(m["EventSourceArn"], m["BatchSize"], m["State"]) for m in mappings} == {
        (infra["TaskDLQArn"], 1, "Enabled"), (infra["EventBridgeTargetDLQArn"], 1, "Enabled")}
