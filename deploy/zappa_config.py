"""zappa_settings.json → the settings file one deployment of one stage uses.

The checked-in file holds everything that does not depend on the AWS account: names,
runtime, schedules, which handler each DLQ feeds. What does (queue URLs, ARNs, subnet
ids, the role) is written ``${OutputName}``, filled from the infra stacks' outputs (plus
``${AccountId}``, ``${Region}``, ``${Stage}``). A list element that is exactly one
placeholder whose value is comma-separated becomes several elements (subnet ids).

Stage configuration that is secret or per-installation (Django's secret key, Slack
tokens, alert channel, webhook) never is in the repo: it comes from SSM parameters under
``/job-manager/<stage>/`` or the environment, and goes into ``aws_environment_variables``
(the Lambda's configuration, encrypted at rest), never into the package.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import write_private

PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")

# What a stage reads from SSM / the environment (never from the repo).
STAGE_CONFIG_NAMES = (
    "DJANGO_SECRET_KEY",
    "SLACK_BOT_TOKEN",
    "ALERT_CHANNEL",
    "SLACK_WEBHOOK_URL",
    "DJANGO_ALLOWED_HOSTS",  # a custom domain, in addition to or instead of API Gateway's
    "DASHBOARD_BASE_URL",
)
REQUIRED_STAGE_CONFIG = ("DJANGO_SECRET_KEY",)


class RenderError(ValueError):
    pass


def stage_settings(settings: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The stage's settings with ``extends`` applied the way Zappa does (a shallow update)."""
    if stage not in settings:
        raise RenderError(f"no stage {stage!r} in zappa_settings.json (stages: {', '.join(settings)})")
    own = dict(settings[stage])
    parent = own.pop("extends", None)
    return {**stage_settings(settings, parent), **own} if parent else own


def render(settings: Mapping[str, Any], *, stage: str, values: Mapping[str, str],
           stage_config: Mapping[str, str]) -> dict[str, Any]:
    """``{stage: settings}`` with every placeholder filled and the stage config attached."""
    missing = [name for name in REQUIRED_STAGE_CONFIG if not stage_config.get(name)]
    if missing:
        raise RenderError(f"missing stage configuration: {', '.join(missing)} (SSM /job-manager/{stage}/ or env)")
    resolved = _fill(copy.deepcopy(stage_settings(settings, stage)), {**values, "Stage": stage})
    secrets = {k: v for k, v in stage_config.items() if v}
    # Zappa applies environment_variables over the Lambda's own at cold start: a name set
    # both ways would lose the stage's value, so the stage's value moves out of the package.
    resolved["environment_variables"] = {
        k: v for k, v in resolved.get("environment_variables", {}).items() if k not in secrets
    }
    resolved["aws_environment_variables"] = {**resolved.get("aws_environment_variables", {}), **secrets}
    return {stage: resolved}


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            whole = PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
            if whole:
                out.extend(part for part in _lookup(whole.group(1), values).split(",") if part)
            else:
                out.append(_fill(item, values))
        return out
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: _lookup(m.group(1), values), value)
    return value


def _lookup(name: str, values: Mapping[str, str]) -> str:
    if not values.get(name):
        raise RenderError(f"no value for ${{{name}}}: is its stack deployed? (known: {', '.join(sorted(values))})")
    return values[name]


def write(rendered: dict[str, Any], path: Path) -> Path:
    return write_private(json.dumps(rendered, indent=2) + "\n", path)  # it holds the stage's secrets
