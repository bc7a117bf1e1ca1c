"""CI/CD: buildspec.yml's two modes, run as CodeBuild runs them, and the pipeline of
infra/cicd.yaml that calls it (tests, then dev, an approval, then prod)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, load_template

BUILDSPEC = yaml.safe_load((ROOT / "buildspec.yml").read_text())


def _stub(path: Path, log: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{path.name} $*" >> {log}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(("stage", "expected"), [
    ("", ["run"]),  # .ci/run: make test (the suite, cfn-lint, zappa package prod)
    ("dev", ["make setup", "python -m deploy dev"]),
    ("prod", ["make setup", "python -m deploy prod"]),
])
def test_buildspec_tests_without_a_stage_and_deploys_with_one(tmp_path, stage, expected):
    # Given a checkout whose tools only record how they are called
    log = tmp_path / "calls.log"
    log.touch()
    _stub(tmp_path / ".ci" / "run", log)
    _stub(tmp_path / ".venv" / "bin" / "python", log)
    _stub(tmp_path / "bin" / "make", log)
    # When CodeBuild runs the build phase with STAGE as the pipeline sets it
    for command in BUILDSPEC["phases"]["build"]["commands"]:
        env = {**os.environ, **BUILDSPEC["env"]["variables"], "STAGE": stage,
               "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
        subprocess.run(["bash", "-eo", "pipefail", "-c", command], cwd=tmp_path, env=env, check=True)
    # Then it ran the tests, or the deploy of that stage
    assert [line.strip() for line in log.read_text().splitlines()] == expected
    assert BUILDSPEC["phases"]["install"]["runtime-versions"]["python"] == "3.12"


def test_ci_runs_the_suite_cfn_lint_and_the_package():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    # What `make test` would run (make -n prints the commands, runs none)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    commands = subprocess.run(["make", "-n", "test"], cwd=ROOT, env=env, capture_output=True, text=True,
                              check=True).stdout.splitlines()
    assert any(c.startswith(".venv/bin/python -m pytest -n ") for c in commands), commands
    assert ".venv/bin/cfn-lint infra/*.yaml" in commands and "scripts/package.sh prod" in commands


def test_pipeline_tests_then_deploys_dev_then_prod_after_an_approval():
    resources = load_template(ROOT / "infra" / "cicd.yaml")["Resources"]
    projects = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CodeBuild::Project"}
    assert {p["Source"]["BuildSpec"] for p in projects.values()} == {"buildspec.yml"}
    assert projects["Tests"]["Environment"]["EnvironmentVariables"] == [{"Name": "STAGE", "Value": ""}]
    stages = resources["Pipeline"]["Properties"]["Stages"]
    plan = []
    for pipeline_stage in stages:
        (action,) = pipeline_stage["Actions"]
        config = action.get("Configuration", {})
        variables = {v["name"]: v["value"] for v in json.loads(config.get("EnvironmentVariables", "[]"))}
        plan.append((action["ActionTypeId"]["Provider"], config.get("ProjectName"), variables.get("STAGE")))
    assert plan == [("CodeStarSourceConnection", None, None), ("CodeBuild", "Tests", None),
                    ("CodeBuild", "Deploy", "dev"), ("Manual", None, None), ("CodeBuild", "Deploy", "prod")]
