"""Turn query results into what the templates show: durations, progress, excerpts,
"why is this task waiting". Pure functions (``now`` is passed in), so they are tested
without a server and the templates stay free of arithmetic."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from markdown_it import MarkdownIt

from jobmanager.domain.health import short_duration
from jobmanager.domain.model import TERMINAL_TASK_STATES, TaskStatus
from jobmanager.domain.redaction import redact, redact_obj

EXCERPT_CHARS = 200
OUTPUT_CAP_BYTES = 200 * 1024  # the task page shows at most this much output
COMPACT_CHARS = 240

JOB_STATUSES = ("running", "completed", "failed", "cancelled")
# Legend order: the path a task normally takes, then the ways it can end badly.
TASK_STATUSES = tuple(s.value for s in TaskStatus)
TERMINAL = frozenset(s.value for s in TERMINAL_TASK_STATES)

# CommonMark with raw HTML off: a task's output (an LLM's words, a program's stdout) is
# untrusted, so "<script>" stays text and markdown-it's link check refuses javascript:,
# vbscript:, file: and data: (except images) URLs.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def seconds_between(start: str | None, end: str | None, *, now: datetime) -> float | None:
    """Elapsed seconds; an unfinished interval runs until ``now``."""
    begin = parse_time(start)
    if begin is None:
        return None
    finish = parse_time(end) or now
    return max(0.0, (finish - begin).total_seconds())


def job_row(job: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    counts = job.get("counts") or {}
    done = sum(counts.get(k, 0) for k in ("completed", "failed", "skipped", "cancelled"))
    total = job.get("taskCount", 0)
    return {
        **job,
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else 0,
        "finished": job.get("status") != "running",
        "duration": seconds_between(job.get("createdAt"), job.get("finishedAt"), now=now),
    }


def task_row(task: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    status = task.get("status", "pending")
    if task.get("durationMs") is not None and status in TERMINAL:
        duration = task["durationMs"] / 1000
    elif status in TERMINAL:
        duration = seconds_between(task.get("startedAt"), task.get("finishedAt"), now=now)
    else:  # running: so far; queued/pending: not started
        duration = seconds_between(task.get("startedAt"), None, now=now)
    return {
        **task,
        "finished": status in TERMINAL,
        "duration": duration,
        "excerpt": excerpt(task),
        "error_text": error_text(task.get("error")),
    }


def excerpt(task: dict[str, Any], limit: int = EXCERPT_CHARS) -> str:
    output = task.get("output")
    if isinstance(output, str) and output:
        return output if len(output) <= limit else output[:limit] + "…"
    if task.get("outputRef"):
        return f"(stored in S3, {task.get('outputSize') or task['outputRef'].get('size', '?')} bytes)"
    return ""


def error_text(error: Any) -> str:
    """Errors are redacted by the worker already; redact again because this is the
    last place a secret could still leave."""
    if not error:
        return ""
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        kind = error.get("kind")
        text = f"{kind}: {message}" if kind and kind != "error" else message
    else:
        text = str(error)
    return redact(text)


def cap_output(text: str, limit: int = OUTPUT_CAP_BYTES) -> tuple[str, bool]:
    """At most ``limit`` bytes of UTF-8 (cut on a character boundary); True if cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", errors="ignore"), True


def waiting_for(task: dict[str, Any], statuses: dict[str, str]) -> list[dict[str, str]]:
    """The dependencies of a pending task that are not completed yet, with their status."""
    return [
        {"taskId": dep, "status": statuses.get(dep, "unknown")}
        for dep in task.get("dependsOn") or []
        if statuses.get(dep) != "completed"
    ]


def status_counts(tasks: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Non-zero counts in legend order."""
    counts = Counter(t.get("status", "pending") for t in tasks)
    return [(s, counts[s]) for s in TASK_STATUSES if counts[s]]


def compact(data: Any, limit: int = COMPACT_CHARS) -> str:
    """One line of JSON for the timeline; long values are cut, secrets redacted."""
    if not data:
        return ""
    text = json.dumps(redact_obj(data), separators=(", ", ": "), sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def human_duration(seconds: float | None) -> str:
    return "—" if seconds is None else short_duration(seconds)


def markdown_html(text: str) -> str:
    """Output as HTML (safe: no raw HTML passes, dangerous URLs are dropped)."""
    return _MARKDOWN.render(text)


def tokens(usage: Any) -> list[tuple[str, int]]:
    """The usage counters an agent reported, e.g. ``[("input", 1200), ("output", 340)]``."""
    if not isinstance(usage, dict):
        return []
    return [(k.removesuffix("_tokens").replace("_", " "), int(v)) for k, v in usage.items()
            if k.endswith("_tokens") and isinstance(v, int | float) and not isinstance(v, bool)]


def progress_events(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "summary": compact(e.get("data"))} for e in history if e.get("eventType") == "Task Progress"]


FILE_FIELDS = {"transcriptRef": "log (agent transcript)", "artifactsRef": "artifact list", "outputRef": "full output"}


def event_files(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Files the worker stored in S3 and named in an event (the log of each attempt, a
    large output, the artifact list of a task with very many files), for download links."""
    found = []
    for event in history:
        data = event.get("data") or {}
        for field, label in FILE_FIELDS.items():
            ref = data.get(field)
            if isinstance(ref, dict) and ref.get("key"):
                found.append({"eventId": event.get("eventId"), "field": field, "label": label,
                              "attempt": event.get("attempt"), "size": ref.get("size")})
    return found
