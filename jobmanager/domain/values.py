"""What DynamoDB can store of a client's JSON: checked before anything is written, so a
value it would refuse is a 400 naming the field, not a 500 half-way through a write."""

from __future__ import annotations

import math
from typing import Any

# DynamoDB numbers: up to 38 significant digits, magnitude in [1e-130, 1e126).
_MAX_DIGITS = 38
_SMALLEST, _LARGEST = 1e-130, 1e126


def unstorable(value: Any) -> str | None:
    """Why ``value`` (parsed JSON) can't be stored, or None when it can."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "text contains an unpaired surrogate (\\ud800-\\udfff): not valid Unicode"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if len(str(abs(item))) > _MAX_DIGITS:
                return f"number with more than {_MAX_DIGITS} digits"
        elif isinstance(item, float):
            if not math.isfinite(item) or (item and not _SMALLEST <= abs(item) < _LARGEST):
                return "number out of range (magnitude must be between 1e-130 and 1e126)"
    return None
