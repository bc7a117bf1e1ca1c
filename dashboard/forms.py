"""The dashboard's forms, checked exactly as the API checks the same input: the HTML
fields become the API's JSON body, then ``api.strict.validated`` with the API's
serializer runs, then the same service. Errors come back as ``(field, message)`` lines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from api import serializers as s
from api.strict import validated
from jobmanager.domain.errors import JobManagerError
from jobmanager.domain.model import TaskSpec

DEFINITION_TEXT_FIELDS = ("kind", "description", "role", "tag", "instructions", "model")
DEFINITION_NUMBER_FIELDS = ("maxTurns", "timeoutSeconds", "maxAttempts")


class FormInvalid(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in errors))
        self.errors = errors


def error_lines(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A DRF ``ValidationError.detail`` or a service error's ``details``, flattened to
    ``(field path, message)`` pairs, e.g. ``("tasks.1.taskId", "taskId must be ...")``."""
    if isinstance(detail, Mapping):
        return [line for key, value in detail.items()
                for line in error_lines(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(detail, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in detail):
            return [(prefix, str(v)) for v in detail]
        return [line for i, value in enumerate(detail) for line in error_lines(value, f"{prefix}.{i}" if prefix else str(i))]
    return [(prefix, str(detail))]


def service_error(exc: JobManagerError) -> FormInvalid:
    lines = [("", exc.message)]
    details = exc.details if isinstance(exc.details, Mapping) else {}
    if details and all(isinstance(v, list) for v in details.values()):  # field → messages
        lines += error_lines(details)
    return FormInvalid(lines)


def _validated(serializer_class: Any, body: Any, **context: Any) -> Any:
    try:
        return validated(serializer_class, body, **context)
    except ValidationError as exc:
        raise FormInvalid(error_lines(exc.detail)) from None


def new_tasks(text: str) -> list[TaskSpec]:
    """The add-tasks form: the body of ``POST /jobs/{jobId}/tasks`` (``{"tasks": [...]}``),
    or just its list of tasks."""
    try:
        body = json.loads(text or "")
    except ValueError as exc:
        raise FormInvalid([("", f"not valid JSON: {exc}")]) from None
    if isinstance(body, list):
        body = {"tasks": body}
    if not isinstance(body, dict):
        raise FormInvalid([("", 'expected {"tasks": [...]} or a list of tasks')])
    data = _validated(s.AddTasksInput, body)
    return s.task_specs(data["tasks"])


def definition_body(post: QueryDict) -> dict[str, Any]:
    """The definition form's fields as the JSON body of ``PUT /task-definitions/{name}``."""
    body: dict[str, Any] = {f: post.get(f, "") for f in DEFINITION_TEXT_FIELDS if f in post}
    if body.get("model") == "":
        body["model"] = None
    for field in DEFINITION_NUMBER_FIELDS:
        if (post.get(field) or "").strip():
            body[field] = post[field].strip()
    tools = post.get("allowedTools") or ""
    body["allowedTools"] = [t.strip() for t in tools.replace("\n", ",").split(",") if t.strip()]
    command = (post.get("command") or "").strip()
    if command.startswith("["):
        try:
            body["command"] = json.loads(command)
        except ValueError as exc:
            raise FormInvalid([("command", f"not a valid JSON list: {exc}")]) from None
    else:  # one argument per line
        body["command"] = [line.rstrip("\r") for line in command.split("\n") if line.strip()]
    return body


def definition_body_for_display(post: QueryDict) -> dict[str, str]:
    """What was typed, to show the form again with its errors."""
    fields = (*DEFINITION_TEXT_FIELDS, *DEFINITION_NUMBER_FIELDS, "allowedTools", "command")
    return {f: post.get(f, "") for f in fields}


def definition_input(name: str, post: QueryDict) -> dict[str, Any]:
    return dict(_validated(s.TaskDefinitionInput, definition_body(post), name=name))


def definition_form(definition: Any) -> dict[str, Any]:
    """A stored definition as the form's initial values."""
    data = definition.to_dict()
    return {**data, "model": data.get("model") or "", "allowedTools": ", ".join(data["allowedTools"]),
            "command": "\n".join(data["command"])}


def sample_json(text: str, field: str) -> dict[str, Any]:
    if not (text or "").strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FormInvalid([(field, f"not valid JSON: {exc}")]) from None
    if not isinstance(value, dict):
        raise FormInvalid([(field, "expected a JSON object")])
    return value
