"""What an operator changes from the dashboard: cancel a job, retry a task, add tasks
to a running job. POST only (CSRF-checked by Django; each button asks to confirm first),
then the same service the API calls (``jobmanager.services``), then a redirect back
with a message saying what happened. Input is checked by the API's own serializers."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from jobmanager.domain.errors import JobManagerError, NotFound
from jobmanager.domain.events import Source
from jobmanager.domain.redaction import redact
from jobmanager.services import control, jobs, queries

from . import forms
from .views import _not_found, _tenant

ADD_TASKS_EXAMPLE = """{
  "tasks": [
    {"taskId": "summary", "taskDefinition": "summarize", "input": {"topic": "..."}, "dependsOn": []}
  ]
}"""


def _back(name: str, *args: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse(f"dashboard:{name}", args=args))


@require_POST
def cancel_job(request: HttpRequest, job_id: str) -> HttpResponse:
    try:
        result = control.cancel_job(tenant_id=_tenant(), job_id=job_id, source=Source.DASHBOARD)
    except NotFound as exc:
        return _not_found(request, exc)
    except JobManagerError as exc:  # Conflict: it completed or failed meanwhile
        messages.error(request, redact(exc.message))
        return _back("job", job_id)
    if result["alreadyCancelled"]:
        messages.info(request, "The job was already cancelled.")
    else:
        stopping = f"; {len(result['stopping'])} running task(s) are being stopped by their workers" \
            if result["stopping"] else ""
        messages.success(request, f"Job cancelled: {len(result['cancelled'])} task(s) cancelled{stopping}.")
    return _back("job", job_id)


@require_POST
def retry_task(request: HttpRequest, job_id: str, task_id: str) -> HttpResponse:
    try:
        result = control.retry_task(tenant_id=_tenant(), job_id=job_id, task_id=task_id)
    except NotFound as exc:
        return _not_found(request, exc)
    except JobManagerError as exc:  # Conflict: not retryable in its state
        messages.error(request, redact(exc.message))
        return _back("task", job_id, task_id)
    reset = f"; {len(result['reset'])} skipped task(s) downstream will run again" if result["reset"] else ""
    messages.success(request, f"Task {task_id} retried: attempt {result['attempt']} is {result['taskStatus']}{reset}.")
    return _back("task", job_id, task_id)


@require_http_methods(["GET", "POST"])
def add_tasks(request: HttpRequest, job_id: str) -> HttpResponse:
    try:
        job = queries.get_job_summary(tenant_id=_tenant(), job_id=job_id)
    except NotFound as exc:
        return _not_found(request, exc)
    context = {"job": job, "text": ADD_TASKS_EXAMPLE, "errors": []}
    if request.method == "POST":
        context["text"] = request.POST.get("tasks", "")
        try:
            specs = forms.new_tasks(context["text"])
            result = jobs.add_tasks(tenant_id=_tenant(), job_id=job_id, tasks=specs, source=Source.DASHBOARD)
        except forms.FormInvalid as exc:
            context["errors"] = exc.errors
        except JobManagerError as exc:  # the DAG rules, an unknown definition, a finished job
            context["errors"] = forms.service_error(exc).errors
        else:
            queued = f" ({len(result['queued'])} queued now)" if result["queued"] else ""
            messages.success(request, f"Added {len(result['added'])} task(s) to the job{queued}.")
            return _back("job", job_id)
    status = 400 if context["errors"] else 200
    return render(request, "dashboard/add_tasks.html", context, status=status)
