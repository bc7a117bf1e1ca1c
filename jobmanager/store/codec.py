"""Values in and out of DynamoDB: floats go in as Decimal(str(x)) and numbers come back
as int/float; pagination cursors are opaque, validated LastEvaluatedKeys."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jobmanager.domain.errors import ValidationFailed


def to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(from_dynamo(v) for v in value)
    return value


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(from_dynamo(last_evaluated_key), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, *, key_names: set[str], partition: tuple[str, str], sort_prefix: str | None = None
) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for, if it is one of this listing's keys:
    exactly its key attributes, in its partition (and sort-key range). Anything else is a
    400 naming the cursor, never a DynamoDB error."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error):
        value = None
    attr, expected = partition
    valid = (
        isinstance(value, dict)
        and set(value) == key_names
        and all(isinstance(v, str) and v for v in value.values())
        and value[attr] == expected
        and (sort_prefix is None or value["SK"].startswith(sort_prefix))
    )
    if not valid:
        raise ValidationFailed("cursor is not valid for this listing", details={"field": "cursor"})
    return value


@dataclass
class Page:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
