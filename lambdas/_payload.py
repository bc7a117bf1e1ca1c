"""Pull the event detail out of what a rule delivers."""

from __future__ import annotations

import json
from typing import Any


def event_detail(payload: dict[str, Any]) -> dict[str, Any]:
    detail = payload.get("detail")
    if isinstance(detail, str):  # some transformers deliver the detail as a JSON string
        detail = json.loads(detail)
    if not isinstance(detail, dict):
        raise ValueError("payload has no event detail")
    return detail
