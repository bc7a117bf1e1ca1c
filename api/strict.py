"""Input exactly as documented: what the OpenAPI schema calls a string must be a JSON string.

DRF's CharField turns ``0`` into ``"0"``, and reads an empty query parameter as "absent";
schemathesis rightly reports both as schema-violating requests that were accepted. The
views run this before their serializer, so such input gets a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

NOT_A_STRING = "Not a valid string."


def strict_data(serializer: serializers.Serializer, data: Any) -> Any:
    """Return the data to validate (a query string as a plain dict: ``?status=`` is an
    empty value, not a missing one) or raise a ValidationError for coerced strings."""
    if isinstance(data, QueryDict):
        data = data.dict()
    errors = _check(serializer, data)
    if errors:
        raise ValidationError(errors)
    return data


def _check(field: Any, value: Any) -> Any:
    if value is None:
        return None  # DRF decides about nulls
    if isinstance(field, serializers.ListSerializer):
        if not isinstance(value, list):
            return None
        items = [_check(field.child, item) or {} for item in value]
        return items if any(items) else None
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, Mapping):
            return None
        found = {name: error for name, sub in field.fields.items() if name in value and (error := _check(sub, value[name]))}
        return found or None
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return None
        found = {i: error for i, item in enumerate(value) if (error := _check(field.child, item))}
        return found or None
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return [NOT_A_STRING]
    return None


def validated(serializer_class: type[serializers.Serializer], data: Any, **context: Any) -> Any:
    """The validated data of one input shape, as every API view checks it (the dashboard's
    forms too): strict strings first, then the serializer. Raises ValidationError."""
    data = strict_data(serializer_class(), data)
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
