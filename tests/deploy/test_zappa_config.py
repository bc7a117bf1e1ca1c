"""Rendering zappa_settings.json for one stage."""

from __future__ import annotations

import json

import pytest

from deploy import zappa_config

from .conftest import ROOT, rendered, stack_values

SETTINGS = json.loads((ROOT / "zappa_settings.json").read_text())


def test_both_stages_render_completely_with_python_3_12_and_a_slim_package():
    for stage in ("dev", "prod"):
        config = rendered(stage)[stage]
        assert "${" not in json.dumps(config)
        assert config["runtime"] == "python3.12"
        assert config["django_settings"] == "jobmanager.settings_production"
        assert config["environment_variables"]["STAGE"] == stage
        assert config["s3_bucket"] == f"job-manager-zappa-{stage}-123456789012"
        assert config["vpc_config"]["SubnetIds"] == ["subnet-0aaa", "subnet-0bbb"]
        assert {".venv", "tests"} <= set(config["exclude"]) and "infra" in config["exclude_glob"]


def test_every_per_stage_name_is_an_infra_output_not_spelled_in_the_repo():
    per_stage = {"EVENTS_TABLE": "EventsTableName", "TASK_DEFINITIONS_TABLE": "TaskDefinitionsTableName",
                 "EVENT_BUS_NAME": "EventBusName", "TASK_QUEUE_URL": "TaskQueueUrl", "TASK_DLQ_URL": "TaskDLQUrl",
                 "EVENTBRIDGE_TARGET_DLQ_URL": "EventBridgeTargetDLQUrl", "S3_BUCKET": "ArtifactsBucketName"}
    for stage in ("dev", "prod"):
        # Given outputs no default could guess
        values = {**stack_values(stage), **{output: f"{output}-of-{stage}" for output in per_stage.values()}}
        env = zappa_config.render(SETTINGS, stage=stage, values=values,
                                  stage_config={"DJANGO_SECRET_KEY": "k"})[stage]["environment_variables"]
        assert {name: env[name] for name in per_stage} == {
            name: f"{output}-of-{stage}" for name, output in per_stage.items()}
        assert env["STAGE"] == stage


def test_prod_keeps_warm_and_dev_does_not():
    assert rendered("prod")["prod"]["keep_warm"] is True
    assert rendered("dev")["dev"]["keep_warm"] is False


def test_stage_config_goes_to_the_lambda_configuration_not_the_package():
    config = rendered("prod", SLACK_BOT_TOKEN="xoxb-1", DJANGO_ALLOWED_HOSTS="jobs.example.com")["prod"]
    assert config["aws_environment_variables"]["SLACK_BOT_TOKEN"] == "xoxb-1"
    # A value set both ways would be overwritten by the package's at cold start: it moves.
    assert "DJANGO_ALLOWED_HOSTS" not in config["environment_variables"]
    assert config["aws_environment_variables"]["DJANGO_ALLOWED_HOSTS"] == "jobs.example.com"
    assert "xoxb-1" not in json.dumps(config["environment_variables"])


def test_secret_key_is_required():
    with pytest.raises(zappa_config.RenderError, match="DJANGO_SECRET_KEY"):
        zappa_config.render(SETTINGS, stage="prod", values=stack_values("prod"), stage_config={})


def test_a_missing_output_is_named():
    values = {k: v for k, v in stack_values("prod").items() if k != "TaskDLQArn"}
    with pytest.raises(zappa_config.RenderError, match=r"\$\{TaskDLQArn\}"):
        zappa_config.render(SETTINGS, stage="prod", values=values, stage_config={"DJANGO_SECRET_KEY": "k"})


def test_unknown_stage_is_named():
    with pytest.raises(zappa_config.RenderError, match="no stage 'staging'"):
        zappa_config.stage_settings(SETTINGS, "staging")


def test_written_file_is_private(tmp_path):
    path = zappa_config.write(rendered("dev"), tmp_path / "out" / "zappa_settings.json")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
