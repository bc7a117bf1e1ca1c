"""Small display helpers for the dashboard templates. Every helper escapes what it
is given (format_html), so task ids and statuses from the event log stay inert."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from dashboard.presenters import human_duration, parse_time

register = template.Library()
NO_TIME = mark_safe('<span class="muted">—</span>')


@register.simple_tag
def badge(status: str | None) -> str:
    status = status or "unknown"
    return format_html('<span class="badge status-{}">{}</span>', status.replace(" ", "_"), status)


@register.filter
def when(value: str | None) -> str:
    """ISO timestamp → a <time> in UTC, seconds precision (the full value in its title)."""
    moment = parse_time(value)
    if moment is None:
        return NO_TIME
    return format_html('<time datetime="{}" title="{}">{}</time>', value, value, moment.strftime("%Y-%m-%d %H:%M:%S"))


@register.filter
def duration(seconds: float | None) -> str:
    return human_duration(seconds)


@register.filter
def usd(value: Any) -> str:
    try:
        amount = float(value or 0)
    except (TypeError, ValueError):
        return "—"
    if amount == 0:
        return "$0"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` in a template (None when absent)."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON (escaped by the template like any other text)."""
    return json.dumps(value if value is not None else {}, indent=2, ensure_ascii=False, sort_keys=True, default=str)
