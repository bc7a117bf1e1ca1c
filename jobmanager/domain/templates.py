"""Placeholders in instructions and command argv: ``{input.topic}``, ``{input}``,
``{tasks.research.output}``. Anything else in braces (JSON in a prompt, say) is left
alone. A placeholder that names nothing is an error naming it — never an empty string.

A path segment starts with a letter or a digit: ``{input.__class__}`` or
``{input._x}`` (attribute or dunder access, in ``str.format`` terms) is not a
placeholder but a malformed one, refused when a definition is saved and again when one
stored earlier is rendered. Values are looked up in the JSON data only, never as
attributes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import TaskExecutionError

if TYPE_CHECKING:
    from .model import TaskDefinition

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_-]*"
PLACEHOLDER_RE = re.compile(rf"\{{(input(?:\.{_SEGMENT})*|tasks\.{_SEGMENT}\.output(?:\.{_SEGMENT})*)\}}")


class MissingPlaceholder(TaskExecutionError):
    code = "template_error"

    def __init__(self, placeholder: str, reason: str, *, braced: bool = False) -> None:
        shown = placeholder if braced else f"{{{placeholder}}}"
        super().__init__(
            f"template placeholder {shown} {reason}",
            retryable=False,
            kind="template",
            details={"placeholder": placeholder.removeprefix("{").removesuffix("}")},
        )


# C0 control characters other than tab, newline and carriage return, and DEL: a value
# carrying them (a NUL, a terminal escape) reaches a prompt or an argv without them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _as_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return _CONTROL.sub("", text)


def _walk(value: Any, path: list[str], placeholder: str) -> Any:
    for part in path:
        if isinstance(value, str):
            # Upstream outputs are text; a JSON output can still be navigated.
            try:
                value = json.loads(value)
            except ValueError:
                raise MissingPlaceholder(placeholder, f"cannot look up '{part}' in a text value") from None
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MissingPlaceholder(placeholder, f"has no value ('{part}' not found)")
    return value


def resolve(placeholder: str, *, task_input: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
    parts = placeholder.split(".")
    if parts[0] == "input":
        return _as_text(_walk(dict(task_input), parts[1:], placeholder))
    task_id = parts[1]
    if task_id not in upstream:
        raise MissingPlaceholder(placeholder, f"refers to task '{task_id}', which is not an upstream dependency")
    return _as_text(_walk(upstream[task_id], parts[3:], placeholder))


def render(template: str, *, task_input: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
    """Fill every placeholder. Values are inserted once and never re-scanned, so an
    input containing ``{tasks.x.output}`` cannot inject another task's output; control
    characters in values are dropped."""
    if bad := malformed_placeholders(template):  # a definition stored before they were refused
        raise MissingPlaceholder(bad[0], f"is malformed ({PLACEHOLDER_HELP})", braced=True)
    return PLACEHOLDER_RE.sub(lambda m: resolve(m.group(1), task_input=task_input, upstream=upstream), template)


# Something that starts like a placeholder: "{input" or "{tasks" and what follows up to
# the closing brace (or the first space or brace, when there is none).
_LOOKS_LIKE_PLACEHOLDER = re.compile(r"\{(?:input|tasks)\b[^{}\s]*\}?")


def malformed_placeholders(template: str) -> list[str]:
    """Brace expressions that look like placeholders but aren't ours (``{input.x[0]}``,
    ``{input.x!r}``, ``{tasks.a}``, an unclosed ``{input.x``): passed through as text, they
    would reach the prompt or the argv silently, so definitions with them are refused."""
    return [m.group(0) for m in _LOOKS_LIKE_PLACEHOLDER.finditer(template)
            if not PLACEHOLDER_RE.fullmatch(m.group(0))]


# A filled-in prompt past this is refused before any session starts (~100k tokens of
# prose: upstream outputs in S3 can be far larger than any model's context).
MAX_PROMPT_CHARS = 400_000

PLACEHOLDER_HELP = ("use {input}, {input.key}, {input.key.0}, {tasks.<taskId>.output} or "
                    "{tasks.<taskId>.output.key}; keys start with a letter or digit")


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER_RE.finditer(template)]


def build_prompt(definition: TaskDefinition, *, task_input: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
    """An agent task's prompt: tag + rendered instructions (the worker runs this; the
    dashboard previews it). A placeholder naming nothing raises (never blank)."""
    instructions = render(definition.instructions, task_input=task_input, upstream=upstream)
    prompt = "\n\n".join(part for part in (definition.tag.strip(), instructions.strip()) if part)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise TaskExecutionError(
            f"the prompt of task definition '{definition.name}' is {len(prompt)} characters once filled in, over "
            f"the {MAX_PROMPT_CHARS}-character limit: pass large inputs or upstream outputs as files instead",
            retryable=False, kind="prompt_too_large")
    if not prompt:
        raise TaskExecutionError(f"task definition '{definition.name}' has no instructions", retryable=False,
                                 kind="definition")
    return prompt
