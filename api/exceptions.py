"""One exception handler: every error is JSON with a ``message`` saying what is wrong
and ``details`` naming the field, task id or cycle."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from jobmanager.domain.errors import JobManagerError
from jobmanager.domain.redaction import redact_obj

log = logging.getLogger(__name__)


def _by_index(details):
    """DRF reports a list's items as a list of error dicts (``{}`` for each valid item), or
    as a dict keyed by int: either way, only the items in error, keyed ``"1"``."""
    if isinstance(details, dict):  # DRF keys a list's items by int; JSON will make them strings anyway
        return {str(field): _by_index(value) for field, value in details.items()}
    if isinstance(details, list) and details and all(isinstance(item, dict) for item in details):
        return {str(index): _by_index(item) for index, item in enumerate(details) if item}
    return details


def _first_message(details, path: str = "") -> str:
    """The first error, after the path to its field: ``tasks[1].taskId: Not a valid string.``"""
    if isinstance(details, dict):
        for field, value in details.items():
            if field == "non_field_errors":
                return _first_message(value, path)
            name = f"{path}[{field}]" if field.isdigit() else f"{path}.{field}" if path else field
            return _first_message(value, name)
    if isinstance(details, list) and details:
        return _first_message(details[0], path)
    return f"{path}: {details}" if path else str(details)


def exception_handler(exc, context):
    if isinstance(exc, JobManagerError):
        if exc.status_code >= 500:
            log.error("service error: %s", exc.message)
        return Response(redact_obj(exc.as_dict()), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        details = _by_index(exc.detail)
        return Response(
            {"message": "invalid request: " + _first_message(details), "code": "invalid", "details": details},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response({"message": f"the request body is over the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE}-byte limit",
                         "code": "too_large"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, RecursionError):  # json.loads on thousands of nested brackets
        return Response({"message": "JSON parse error: nested too deeply", "code": "parse_error"},
                        status=status.HTTP_400_BAD_REQUEST)
    response = drf_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        response.data = {"message": str(detail), "code": getattr(exc, "default_code", "error")}
        return response
    log.exception("unhandled error in %s", context.get("view").__class__.__name__ if context.get("view") else "?")
    return Response({"message": "internal error", "code": "internal"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


# Paths that belong to the browser (HTML pages); everything else is the API's.
_HTML_PREFIXES = ("/dashboard/", "/admin/", "/accounts/")


def not_found(request, exception=None):
    """Django's 404 for a URL no route matches: JSON for API clients (the same body as
    every other API error), the dashboard's page for browsers."""
    path = request.path_info
    wants_json = "x-api-key" in request.headers or "json" in request.headers.get("Accept", "")
    if wants_json or not path.startswith(_HTML_PREFIXES):
        return JsonResponse({"message": f"no such endpoint: {request.method} {path}", "code": "not_found"},
                            status=404)
    return page_not_found(request, exception)
