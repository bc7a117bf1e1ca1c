"""The ops dashboard: one view per page, one template per view.

An htmx request gets only the ``{% partialdef %}`` named by the element it updates
(its ``HX-Target`` id): the jobs table polls its ``<tbody>``, filter links swap the
whole panel, a job page polls its live block. When a job (or task) has finished, its
partial answers 286 and is rendered without the polling trigger, so htmx stops asking.
Views only call the query services (``jobmanager.services.queries``), never the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from jobmanager.aws import artifacts
from jobmanager.config import get_config
from jobmanager.domain.errors import JobManagerError, NotFound, ValidationFailed
from jobmanager.domain.redaction import redact
from jobmanager.services import control, queries, task_definitions

from . import presenters as p
from .graph import layout

PAGE_SIZE = 25
STOP_POLLING = 286  # htmx: swap this response, then cancel the element's polling


def _tenant() -> str:
    # Dashboard users act for the deployment's configured tenant (TENANT_ID); API keys carry their own.
    return get_config().tenant_id


def _render(
    request: HttpRequest, template: str, context: dict, *, partials: tuple[str, ...] = (),
    status: int = 200, finished: bool = False,
) -> HttpResponse:
    if request.htmx and partials:
        # The element being updated names its partial; a bare htmx request gets the first.
        name = request.htmx.target if request.htmx.target in partials else partials[0]
        return render(request, f"{template}#{name}", context, status=STOP_POLLING if finished else status)
    return render(request, template, context, status=status)


def _not_found(request: HttpRequest, error: NotFound) -> HttpResponse:
    return render(request, "404.html", {"message": error.message}, status=404)


def _url(name: str, *args: str, **query: str | None) -> str:
    """A dashboard URL with its query string; empty parameters are left out."""
    path = reverse(f"dashboard:{name}", args=args)
    params = {k: v for k, v in query.items() if v}
    return f"{path}?{urlencode(params)}" if params else path


def jobs(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    cursor = request.GET.get("cursor") or None
    text = (request.GET.get("q") or "").strip()[:200] or None
    context: dict = {
        "status": status,
        "cursor": cursor,
        "q": text,
        "tenant": _tenant(),
        "filters": [
            {"label": label or "all", "status": label, "url": _url("jobs", status=label, q=text),
             "active": status == label}
            for label in (None, *p.JOB_STATUSES)
        ],
        "first_url": _url("jobs", status=status, q=text),
    }
    partials = ("job-rows", "jobs-panel", "job-counts")  # the polling <tbody>; the panel filter/pager links swap
    if not (request.htmx and request.htmx.target == "job-rows"):  # the 3-s row poll doesn't count
        context["counts"] = queries.count_jobs(tenant_id=_tenant())
    try:
        if text:
            page = queries.search_jobs(tenant_id=_tenant(), text=text, status=status, cursor=cursor, limit=PAGE_SIZE)
        else:
            page = queries.list_jobs(tenant_id=_tenant(), status=status, cursor=cursor, limit=PAGE_SIZE)
    except ValidationFailed as exc:  # an unknown status or a mangled cursor in the URL
        context.update(jobs=[], error=exc.message)
        return _render(request, "dashboard/jobs.html", context, partials=partials, status=400)
    now = datetime.now(UTC)
    context.update(
        jobs=[p.job_row(job, now=now) for job in page.items],
        next_url=_url("jobs", status=status, q=text, cursor=page.next_cursor) if page.next_cursor else None,
    )
    return _render(request, "dashboard/jobs.html", context, partials=partials)


def job(request: HttpRequest, job_id: str) -> HttpResponse:
    tasks_cursor = request.GET.get("tasks") or None
    try:
        found = queries.get_job(tenant_id=_tenant(), job_id=job_id, cursor=tasks_cursor)
    except NotFound as exc:
        return _not_found(request, exc)
    except ValidationFailed as exc:
        return render(request, "404.html", {"message": exc.message, "title": "Bad request"}, status=400)
    now = datetime.now(UTC)
    summary = p.job_row(found, now=now)
    graph = layout(found["tasks"])
    rows = {t["taskId"]: p.task_row(t, now=now) for t in found["tasks"]}
    drawn = set(graph.order)  # graph order (column by column) reads like the DAG; the rest by id
    ordered = [rows[t] for t in graph.order] + [r for t, r in rows.items() if t not in drawn]
    next_tasks = found.get("tasksNextCursor")
    context = {
        "job": summary,
        "tasks": ordered,
        "graph": graph,
        "legend": p.TASK_STATUSES,
        "status_counts": p.status_counts(found["tasks"]),
        "partial_tasks": bool(tasks_cursor or next_tasks),
        "next_tasks_url": _url("job", job_id, tasks=next_tasks) if next_tasks else None,
    }
    return _render(request, "dashboard/job.html", context, partials=("job-live",), finished=summary["finished"])


def _find_task(job_id: str, task_id: str) -> tuple[dict, dict, dict[str, str]]:
    """The job, the task and the statuses of the task's dependencies: three reads."""
    job = queries.get_job_summary(tenant_id=_tenant(), job_id=job_id)
    task = queries.get_task(tenant_id=_tenant(), job_id=job_id, task_id=task_id)
    return job, task, task["dependencies"]


def _output(task: dict) -> dict:
    """The task's full output: inline, or fetched from S3 when it was too big for an event."""
    text, error = task.get("output") or "", ""
    if task.get("outputRef"):
        try:
            text = artifacts.get_text(task["outputRef"])
        except (JobManagerError, BotoCoreError, ClientError) as exc:
            error = redact(f"the output could not be loaded from S3: {exc}")
    shown, cut = p.cap_output(text)
    size = task.get("outputSize") or len(text.encode("utf-8"))
    return {"text": shown, "cut": cut, "size": size, "error": error, "cap": p.OUTPUT_CAP_BYTES}


def task(request: HttpRequest, job_id: str, task_id: str) -> HttpResponse:
    try:
        job, found, statuses = _find_task(job_id, task_id)
        history = queries.task_history(tenant_id=_tenant(), job_id=job_id, task_id=task_id)
    except NotFound as exc:
        return _not_found(request, exc)
    now = datetime.now(UTC)
    row = p.task_row(found, now=now)
    job_row = p.job_row(job, now=now)
    output = _output(found) if row["finished"] else None
    if output and output["text"]:
        output["html"] = p.markdown_html(output["text"])
    context = {
        "job": job_row,
        "task": row,
        "waiting_for": p.waiting_for(found, statuses) if found.get("status") == "pending" else [],
        "queued_for": p.seconds_between(found.get("queuedAt"), None, now=now),
        "output": output,
        "artifacts": found.get("artifacts") or [],
        "files": p.event_files(history),
        "tokens": p.tokens(found.get("usage")),
        "progress": p.progress_events(history),
        "can_retry": control.can_retry(found.get("status"), job_row["status"]),
        "events": [{**e, "summary": p.compact(e.get("data"))} for e in history],
    }
    return _render(request, "dashboard/task.html", context, partials=("task-live",), finished=row["finished"])


def task_prompt(request: HttpRequest, job_id: str, task_id: str) -> HttpResponse:
    """The task's prompt (agent) or argv (command), loaded when its panel is opened."""
    context: dict = {"error": None}
    try:
        context["prompt"] = task_definitions.task_prompt(tenant_id=_tenant(), job_id=job_id, task_id=task_id)
    except NotFound as exc:
        context["error"] = exc.message
    except JobManagerError as exc:  # a placeholder whose dependency has no output yet
        context["error"] = redact(exc.message)
    return render(request, "dashboard/task.html#prompt", context)


def artifact(request: HttpRequest, job_id: str, task_id: str, index: int) -> HttpResponse:
    try:
        _, found, _ = _find_task(job_id, task_id)
        items = found.get("artifacts") or []
        if index >= len(items):
            raise NotFound(f"task {task_id} has no artifact #{index}", details={"index": index})
    except NotFound as exc:
        return _not_found(request, exc)
    item = items[index]
    pointer = {"bucket": item.get("bucket"), "key": item["key"]}
    return HttpResponseRedirect(artifacts.presigned_url(pointer, filename=_header_safe(item.get("name") or "")))


def task_file(request: HttpRequest, job_id: str, task_id: str, event_id: str, field: str) -> HttpResponse:
    """A file an event of this task names (its log, a large output, an artifact list):
    redirected to a short-lived presigned S3 link."""
    try:
        history = queries.task_history(tenant_id=_tenant(), job_id=job_id, task_id=task_id)
        named = next((f for f in p.event_files(history) if f["eventId"] == event_id and f["field"] == field), None)
        if named is None:
            raise NotFound(f"task {task_id} has no {field} in event {event_id}", details={"eventId": event_id})
    except NotFound as exc:
        return _not_found(request, exc)
    event = next(e for e in history if e.get("eventId") == event_id)
    ref = event["data"][field]
    name = f"{task_id}-attempt-{event.get('attempt') or 0}-{ref['key'].rsplit('/', 1)[-1]}"
    return HttpResponseRedirect(artifacts.presigned_url(ref, filename=_header_safe(name)))


def _header_safe(name: str) -> str | None:
    """The name goes into a Content-Disposition header: drop what could break out of it."""
    cleaned = "".join(c for c in name.rsplit("/", 1)[-1] if c.isprintable() and c not in '"\\;')
    return cleaned or None


