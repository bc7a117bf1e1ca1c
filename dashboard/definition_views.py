"""Task definitions: list, create, edit (checked as ``PUT /task-definitions/{name}`` is,
then the same service), the saved versions of each, and a preview of what a task would
run: the prompt (agent) or argv (command) rendered for a sample input."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from jobmanager.domain.errors import JobManagerError, NotFound
from jobmanager.services import task_definitions

from . import forms
from .views import _not_found, _tenant

BLANK = {"kind": "agent", "maxTurns": 10, "timeoutSeconds": 120, "maxAttempts": 3, "allowedTools": "", "command": "",
         "model": ""}
SAMPLE_INPUT = '{"topic": "tide pools"}'


def task_definitions_list(request: HttpRequest) -> HttpResponse:
    definitions = task_definitions.list_task_definitions()
    return render(request, "dashboard/task_definitions.html", {"definitions": definitions})


def _save(request: HttpRequest, name: str, context: dict, *, template: str) -> HttpResponse:
    try:
        body = forms.definition_input(name, request.POST)
        stored, created = task_definitions.put_task_definition(tenant_id=_tenant(), name=name, body=body)
    except forms.FormInvalid as exc:
        context["errors"] = exc.errors
    except JobManagerError as exc:
        context["errors"] = forms.service_error(exc).errors
    else:
        verb = "created" if created else "saved"
        messages.success(request, f"Task definition {stored.name} {verb}: version {stored.version}.")
        return HttpResponseRedirect(reverse("dashboard:task-definition", args=[stored.name]))
    context["form"] = {**forms.definition_body_for_display(request.POST), "name": name}
    return render(request, template, context, status=400)


def _exists(name: str) -> bool:
    try:
        task_definitions.get_task_definition(name)
    except NotFound:
        return False
    return True


@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    context = {"form": dict(BLANK), "creating": True, "errors": [], "sample_input": SAMPLE_INPUT}
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()
        if name and _exists(name):
            context["errors"] = [("name", f"a definition named '{name}' exists: edit it instead")]
            context["form"] = {**forms.definition_body_for_display(request.POST), "name": name}
            return render(request, "dashboard/task_definition.html", context, status=400)
        return _save(request, name, context, template="dashboard/task_definition.html")
    return render(request, "dashboard/task_definition.html", context)


@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, name: str) -> HttpResponse:
    try:
        current = task_definitions.get_task_definition(name)
        history = task_definitions.definition_history(name)
    except NotFound as exc:
        return _not_found(request, exc)
    context = {"current": current, "history": history, "creating": False, "errors": [],
               "form": forms.definition_form(current), "sample_input": SAMPLE_INPUT}
    if request.method == "POST":
        return _save(request, name, context, template="dashboard/task_definition.html")
    return render(request, "dashboard/task_definition.html", context)


@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """The form as it is now (saved or not) rendered for the sample input: an htmx partial."""
    name = (request.POST.get("name") or "").strip() or "preview"
    context: dict = {"errors": []}
    try:
        body = forms.definition_input(name, request.POST)
        definition = task_definitions.build_definition(name, body)
        sample = forms.sample_json(request.POST.get("sample_input", ""), "sample input")
        upstream = forms.sample_json(request.POST.get("sample_upstream", ""), "upstream outputs")
        context["preview"] = task_definitions.preview(definition, task_input=sample, upstream=upstream)
    except forms.FormInvalid as exc:
        context["errors"] = exc.errors
    except JobManagerError as exc:  # a placeholder naming nothing, as the worker would fail it
        context["errors"] = forms.service_error(exc).errors
    if "argv" in context.get("preview", {}):
        context["preview"]["argv_json"] = json.dumps(context["preview"]["argv"], ensure_ascii=False)
    return render(request, "dashboard/task_definition.html#preview", context)
