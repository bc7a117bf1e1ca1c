"""Task definitions: reusable prompt recipes (``agent``) or argv templates (``command``)."""

from __future__ import annotations

from typing import Any

from jobmanager.aws import artifacts, bus
from jobmanager.config import get_config
from jobmanager.domain.errors import NotFound, ValidationFailed
from jobmanager.domain.events import EventType, Source, new_event
from jobmanager.domain.ids import now_iso
from jobmanager.domain.model import DEFINITION_NAME_RE, DefinitionKind, TaskDefinition
from jobmanager.domain.templates import PLACEHOLDER_HELP, PLACEHOLDER_RE, build_prompt, malformed_placeholders, render
from jobmanager.domain.values import unstorable
from jobmanager.store.events_table import EventStore, get_event_store
from jobmanager.store.task_definitions import TaskDefinitionStore, get_task_definition_store


def build_definition(name: str, body: dict[str, Any]) -> TaskDefinition:
    """Validate a definition (already shape-checked by the API serializer)."""
    errors: dict[str, list[str]] = {}
    if not DEFINITION_NAME_RE.match(name):
        errors["name"] = ["use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"]
    kind = body.get("kind", "agent")
    if kind == DefinitionKind.AGENT and not (body.get("instructions") or "").strip():
        errors["instructions"] = ["an agent definition needs instructions"]
    if kind == DefinitionKind.COMMAND:
        command = body.get("command") or []
        if not command:
            errors["command"] = ["a command definition needs an argv list, e.g. [\"python\", \"tool.py\", \"{input.path}\"]"]
        elif PLACEHOLDER_RE.fullmatch(command[0]):
            errors["command"] = ["the program (argv[0]) cannot be a placeholder"]
    bad: list[str] = []
    for field in ("instructions", "role", "tag"):
        bad += _check_placeholders(errors, field, [body.get(field) or ""])
    bad += _check_placeholders(errors, "command", [str(arg) for arg in body.get("command") or []])
    for field, value in body.items():
        if problem := unstorable(value):
            errors.setdefault(field, []).append(problem)
    if errors:
        why = f": malformed placeholder {bad[0]}" if bad else ""
        raise ValidationFailed(f"invalid task definition '{name}'{why}", details=errors)
    return TaskDefinition.from_dict({**body, "name": name, "kind": kind, "updatedAt": now_iso()})


def _check_placeholders(errors: dict[str, list[str]], field: str, texts: list[str]) -> list[str]:
    bad = [found for text in texts for found in malformed_placeholders(text)]
    if bad:
        errors.setdefault(field, []).append(f"malformed placeholder {bad[0]}: {PLACEHOLDER_HELP}")
    return bad


def put_task_definition(
    *, tenant_id: str, name: str, body: dict[str, Any], store: TaskDefinitionStore | None = None
) -> tuple[TaskDefinition, bool]:
    """Create or replace. Returns the stored definition and whether it was new."""
    store = store or get_task_definition_store()
    definition = build_definition(name, body)
    stored = store.put(definition)
    bus.publish(
        [
            new_event(
                EventType.TASK_DEFINITION_UPDATED, tenant_id=tenant_id, app_name=get_config().app_name,
                source=Source.API, data={"name": name, "version": stored.version, "kind": str(stored.kind)},
            )
        ]
    )
    return stored, stored.version == 1


def list_task_definitions(*, store: TaskDefinitionStore | None = None) -> list[TaskDefinition]:
    return (store or get_task_definition_store()).list_all()


def get_task_definition(name: str, *, store: TaskDefinitionStore | None = None) -> TaskDefinition:
    definition = (store or get_task_definition_store()).get(name)
    if definition is None:
        raise NotFound(f"task definition '{name}' not found", details={"name": name})
    return definition


def definition_history(name: str, *, limit: int = 20, store: TaskDefinitionStore | None = None) -> list[TaskDefinition]:
    """The definition's saved versions, newest first (the current one included)."""
    store = store or get_task_definition_store()
    current = get_task_definition(name, store=store)
    return store.history(name, latest=current.version, limit=limit)


def preview(definition: TaskDefinition, *, task_input: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """What a task of this definition would run with this input and these upstream
    outputs: ``{"prompt": ...}`` (agent: tag + instructions, as the worker builds it) or
    ``{"argv": [...]}`` (command). A placeholder naming nothing raises, as it would at run time."""
    if definition.kind == DefinitionKind.COMMAND:
        return {"argv": [render(arg, task_input=task_input, upstream=upstream) for arg in definition.command]}
    return {"prompt": build_prompt(definition, task_input=task_input, upstream=upstream), "role": definition.role}


def task_prompt(*, tenant_id: str, job_id: str, task_id: str, store: EventStore | None = None) -> dict[str, Any]:
    """What this task runs (or ran), rebuilt as the worker builds it: the definition as it
    is now, the task's input and its completed dependencies' outputs. Raises
    ``MissingPlaceholder`` while an output it names is not there yet."""
    store = store or get_event_store()
    task = store.get_task(job_id, task_id, consistent=False)
    if not task or task.get("tenantId") != tenant_id:
        raise NotFound(f"task {task_id} not found in job {job_id}", details={"jobId": job_id, "taskId": task_id})
    definition = get_task_definition(task["taskDefinition"])
    task_input = artifacts.get_json(task["inputRef"]) if task.get("inputRef") else dict(task.get("input") or {})
    deps = store.get_tasks(job_id, task.get("dependsOn", [])) if task.get("dependsOn") else {}
    upstream = {d: artifacts.output_text(item) for d, item in deps.items() if item.get("status") == "completed"}
    return {**preview(definition, task_input=task_input, upstream=upstream), "definitionVersion": definition.version}
