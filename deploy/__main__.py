"""``python -m deploy STAGE``: deploy one stage to AWS, in the seed's order.

1. ``infra/template.yaml``   → stack job-manager-<stage>: queues, tables, bus, bucket
2. ``infra/database.yaml``   → stack job-manager-db-<stage>: VPC, NAT, PostgreSQL, its secret
3. ``infra/function-role.yaml`` → stack job-manager-role-<stage>: the function's IAM role;
   ``infra/worker-role.yaml`` → stack job-manager-worker-<stage>: the workers' policy, role
   and instance profile
4. stage config: Django's secret key (generated once into SSM), Slack settings from SSM
   ``/job-manager/<stage>/`` or the environment; zappa_settings.json rendered with the
   stacks' outputs into ``.deploy/zappa_settings.<stage>.json``, and the workers'
   environment into ``.deploy/worker.<stage>.env``
5. the app: ``scripts/package.sh`` builds the slim venv and runs ``zappa deploy`` (first
   time) or ``zappa update``, then ``zappa manage <stage> migrate``
6. stack 1 again with the function's ARN: the EventBridge rules now target it

``--infra-only`` stops after step 4 (what the tests run against the emulator).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from . import worker_env, write_private, zappa_config
from .stacks import Aws, stack_specs

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", help="a stage of zappa_settings.json (dev, prod)")
    parser.add_argument("--region", help="default: the stage's aws_region")
    parser.add_argument("--settings", type=Path, default=ROOT / "zappa_settings.json")
    parser.add_argument("--output", type=Path, help="rendered settings (default .deploy/zappa_settings.<stage>.json)")
    parser.add_argument("--worker-env", type=Path, help="workers' environment (default .deploy/worker.<stage>.env)")
    parser.add_argument("--endpoint-url", help="an AWS emulator (tests)")
    parser.add_argument("--infra-only", action="store_true", help="stacks + rendered settings; no Zappa")
    args = parser.parse_args(argv)

    settings = json.loads(args.settings.read_text())
    stage_config = zappa_config.stage_settings(settings, args.stage)
    region = args.region or stage_config.get("aws_region") or "eu-west-1"
    function_name = f"{stage_config.get('project_name', 'job-manager')}-{args.stage}"
    aws = Aws(region=region, endpoint_url=args.endpoint_url)

    function_arn = aws.function_arn(function_name) if not args.infra_only else ""
    values: dict[str, str] = {"AccountId": aws.account_id(), "Region": region}
    for spec in stack_specs(args.stage, function_arn=function_arn or None):
        _say(f"stack {spec.name} ({spec.template.name})")
        values.update(aws.deploy(spec))

    aws.ensure_secret_key(args.stage)
    config = {**aws.stage_config(args.stage, zappa_config.STAGE_CONFIG_NAMES),
              **{n: os.environ[n] for n in zappa_config.STAGE_CONFIG_NAMES if os.environ.get(n)}}
    output = args.output or ROOT / ".deploy" / f"zappa_settings.{args.stage}.json"
    zappa_config.write(zappa_config.render(settings, stage=args.stage, values=values, stage_config=config), output)
    _say(f"rendered {_shown(output)}")
    workers = args.worker_env or ROOT / ".deploy" / f"worker.{args.stage}.env"
    write_private(worker_env.render(values, stage=args.stage, region=region), workers)
    _say(f"workers' environment: {_shown(workers)} (copy it to /etc/job-manager/worker.env on each worker host)")
    if args.infra_only:
        return 0

    action = "update" if function_arn else "deploy"
    _say(f"zappa {action} {args.stage}")
    _run([str(ROOT / "scripts" / "package.sh"), args.stage, "--settings", str(output), "--zappa", action])
    _run([str(ROOT / "scripts" / "package.sh"), args.stage, "--settings", str(output), "--zappa", "manage",
          "migrate", "--noinput"])

    function_arn = aws.function_arn(function_name)
    _say(f"stack job-manager-{args.stage}: rules → {function_arn}")
    aws.deploy(stack_specs(args.stage, function_arn=function_arn)[0])
    _say("done. Next: create an admin user and an API key (README: Deploy to AWS).")
    return 0


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _run(command: list[str]) -> None:
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}")


if __name__ == "__main__":
    sys.exit(main())
