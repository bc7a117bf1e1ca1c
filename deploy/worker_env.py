"""The workers' environment file for one stage, from its infra stack's outputs.

``python -m deploy STAGE`` writes it to ``.deploy/worker.<stage>.env``: copy it to
``/etc/job-manager/worker.env`` on each worker host (deploy/workers/ has the units). It
names resources only; credentials come from the host (an instance role or a profile), and
Claude's from the line you add (ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

# worker setting (the seed's names) → infra/template.yaml output
FROM_OUTPUTS = {
    "SQS_QUEUE_URL": "TaskQueueUrl",
    "EVENTBRIDGE_BUS_NAME": "EventBusName",
    "EVENTS_TABLE": "EventsTableName",
    "TASK_DEFINITIONS_TABLE": "TaskDefinitionsTableName",
    "S3_BUCKET": "ArtifactsBucketName",
}


def render(outputs: Mapping[str, str], *, stage: str, region: str) -> str:
    lines = [f"# The workers' environment for stage {stage} (python -m deploy). Copy to /etc/job-manager/worker.env.",
             f"AWS_REGION={region}", f"STAGE={stage}"]
    lines += [f"{name}={outputs[output]}" for name, output in FROM_OUTPUTS.items()]
    lines += [
        "DJANGO_SETTINGS_MODULE=jobmanager.settings",
        # Django needs a key to start; the worker signs nothing with it. Not the web app's.
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}",
        "# Claude credentials for agent tasks (one of them):",
        "# ANTHROPIC_API_KEY=",
        "# CLAUDE_CODE_OAUTH_TOKEN=",
    ]
    return "\n".join(lines) + "\n"

