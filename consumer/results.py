"""What a finished attempt leaves behind, moved to S3: the files in its working
directory (artifacts), an output too large to travel inline, the agent's transcript.
Events carry pointers ``{bucket, key, size}`` (DESIGN invariant 5)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from jobmanager.aws import artifacts
from jobmanager.config import get_config
from jobmanager.domain.redaction import redact

from .task import TaskResult, TaskRun

log = logging.getLogger(__name__)

# An artifact list beyond this goes to S3 as a manifest, so the event stays small.
MAX_INLINE_ARTIFACT_BYTES = 32 * 1024


def result_key(run: TaskRun, name: str) -> str:
    """Worker-made objects live beside, not among, the task's own files (a task may
    well write a file called output.txt)."""
    return artifacts.result_key(run.job_id, run.task_id, run.attempt, name)


def upload_artifacts(run: TaskRun) -> list[dict[str, Any]]:
    """Every regular file under the working directory, keyed by its relative path.
    Symlinks are skipped: a task must not smuggle out files from elsewhere on the host."""
    uploaded: list[dict[str, Any]] = []
    for root, dirs, files in os.walk(run.work_dir, followlinks=False):
        dirs.sort()
        for filename in sorted(files):
            path = Path(root) / filename
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(run.work_dir).as_posix()
            key = artifacts.artifact_key(run.job_id, run.task_id, run.attempt, name)
            uploaded.append({"name": name, **artifacts.upload_file(path, key)})
    return uploaded


def artifacts_field(run: TaskRun, uploaded: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"artifacts": [...]}``, or, for very many files, a manifest pointer and a count."""
    if len(json.dumps(uploaded)) <= MAX_INLINE_ARTIFACT_BYTES:
        return {"artifacts": uploaded}
    return {"artifactsRef": artifacts.put_json(result_key(run, "artifacts.json"), uploaded),
            "artifactCount": len(uploaded)}


def output_fields(run: TaskRun, output: str) -> dict[str, Any]:
    """``output`` inline when small, else ``outputRef``; ``outputSize`` (bytes) always."""
    data = output.encode("utf-8")
    if len(data) <= get_config().inline_output_limit:
        return {"output": output, "outputSize": len(data)}
    pointer = artifacts.put_text(result_key(run, "output.txt"), output)
    return {"outputRef": pointer, "outputSize": len(data)}


def run_files(run: TaskRun) -> dict[str, Any]:
    """The attempt's transcript (agent messages) and log, redacted, as ``transcriptRef``
    and ``logRef`` pointers (whichever exist)."""
    refs: dict[str, Any] = {}
    for field, path, name, content_type in (
            ("transcriptRef", run.transcript_file, "transcript.jsonl", "application/x-ndjson"),
            ("logRef", run.log_file, "task.log", "text/plain; charset=utf-8")):
        if path.is_file() and path.stat().st_size:
            text = redact(path.read_text(encoding="utf-8", errors="replace"))
            refs[field] = artifacts.put_bytes(result_key(run, name), text.encode("utf-8"), content_type=content_type)
    return refs


def completion_data(run: TaskRun, result: TaskResult) -> dict[str, Any]:
    # An agent that read its environment must not publish the worker's credentials.
    data: dict[str, Any] = {**output_fields(run, redact(result.output, patterns=False))}
    if result.exit_code is not None:
        data["exitCode"] = result.exit_code
    for key, value in (("costUsd", result.cost_usd), ("usage", result.usage), ("numTurns", result.num_turns),
                       ("model", result.model), ("agentDurationMs", result.agent_duration_ms)):
        if value is not None:
            data[key] = value
    data.update(run_files(run))
    return data


def clean_up(run: TaskRun) -> None:
    """The scratch dir always goes; the working dir only when configured (its files
    are in S3 by now)."""
    shutil.rmtree(run.run_dir, ignore_errors=True)
    if get_config().delete_files_after_upload:
        shutil.rmtree(run.work_dir, ignore_errors=True)
