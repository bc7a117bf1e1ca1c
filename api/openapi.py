"""The OpenAPI schema (drf-spectacular), served at ``/api/schema/``.

The views stay plain ``APIView``s that validate with their Input serializers; this module
tells the schema generator, per view and method, which serializer is the request body or
the query string and what each response looks like. Every operation also documents the
error responses every view can give (one JSON shape: ``message``, ``code``, ``details``)
and the throttle's 429 with ``Retry-After``. A view missing from ``OPERATIONS`` still gets
the error responses and a free-form JSON 200, so new views never produce a wrong schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from jobmanager.domain.model import DEFINITION_NAME_RE

from . import serializers as s

_STR = {"type": "string"}
_NULLABLE_STR = {"type": "string", "nullable": True}
_OBJ = {"type": "object", "additionalProperties": True}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": True}


ERROR = _obj(["message"], message=_STR, code=_STR, details={})
TASK = _obj(["taskId", "status"], taskId=_STR, status=_STR, taskDefinition=_STR, attempt={"type": "integer"},
            dependsOn={"type": "array", "items": _STR}, requestId=_STR)
JOB = _obj(["jobId", "status"], jobId=_STR, status=_STR, name=_STR)
JOB_DETAIL = {**JOB, "properties": {**JOB["properties"], "tasks": {"type": "array", "items": TASK},
                                    "tasksNextCursor": _NULLABLE_STR}}
JOB_CREATED = {**JOB, "required": ["jobId", "status", "tasks", "queued"],
               "properties": {**JOB["properties"], "tasks": {"type": "array", "items": TASK},
                              "queued": {"type": "array", "items": _STR}}}
JOB_LIST = _obj(["jobs", "nextCursor"], jobs={"type": "array", "items": JOB}, nextCursor=_NULLABLE_STR)
TASKS_ADDED = _obj(["jobId", "added", "queued"], jobId=_STR, added={"type": "array", "items": _STR},
                   queued={"type": "array", "items": _STR})
DEFINITION = _obj(["name", "kind"], name=_STR, kind={"type": "string", "enum": ["agent", "command"]})
DEFINITION_LIST = _obj(["taskDefinitions"], taskDefinitions={"type": "array", "items": DEFINITION})

# (view class name, method) -> (query-string serializer, request body serializer, {status: response schema})
OPERATIONS: dict[tuple[str, str], tuple[Any, Any, dict[int, dict[str, Any]]]] = {
    ("JobListCreateView", "GET"): (s.ListJobsInput, None, {200: JOB_LIST}),
    ("JobListCreateView", "POST"): (None, s.CreateJobInput, {201: JOB_CREATED, 200: JOB_CREATED}),
    ("JobDetailView", "GET"): (s.GetJobInput, None, {200: JOB_DETAIL}),
    ("JobTasksView", "POST"): (None, s.AddTasksInput, {201: TASKS_ADDED}),
    ("TaskDefinitionListView", "GET"): (None, None, {200: DEFINITION_LIST}),
    ("TaskDefinitionDetailView", "PUT"): (None, s.TaskDefinitionInput, {200: DEFINITION, 201: DEFINITION}),
}

ERRORS = {
    400: "invalid request: the message names the field, task id or cycle",
    401: "no credentials: send x-api-key",
    403: "invalid or revoked API key",
    404: "not found",
    405: "method not allowed",
    409: "conflict with the current state (e.g. the job has finished)",
    413: "request too large",
    422: "an Idempotency-Key reused for a different request",
    429: "throttled: rate, burst or daily quota of this API key; see Retry-After",
}


_OPERATION_IDS = {
    ("JobListCreateView", "GET"): "listJobs",
    ("JobListCreateView", "POST"): "createJob",
    ("JobDetailView", "GET"): "getJob",
    ("JobTasksView", "POST"): "addTasks",
    ("TaskDefinitionListView", "GET"): "listTaskDefinitions",
    ("TaskDefinitionDetailView", "PUT"): "putTaskDefinition",
}


class ApiSchema(AutoSchema):
    def get_operation_id(self) -> str:
        # The seed's operation names; other views get "<ViewName>_<method>", unique by construction.
        key = (type(self.view).__name__, self.method)
        return _OPERATION_IDS.get(key) or f"{key[0].removesuffix('View')}_{self.method.lower()}"

    def _operation(self) -> tuple[Any, Any, dict[int, dict[str, Any]]]:
        return OPERATIONS.get((type(self.view).__name__, self.method), (None, None, {200: _OBJ}))

    def get_request_serializer(self) -> Any:
        # Not the generator's guess: our views have no serializer_class to guess from.
        return self._operation()[1]

    def get_response_serializers(self) -> Any:
        responses: dict[int, Any] = {code: OpenApiResponse(schema) for code, schema in self._operation()[2].items()}
        for code, description in ERRORS.items():
            responses[code] = OpenApiResponse(ERROR, description=description)
        return responses

    def get_override_parameters(self) -> list[Any]:
        query = self._operation()[0]
        retry_after = OpenApiParameter(
            "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429],
            description="seconds until the refusing window resets",
        )
        params = [*super().get_override_parameters(), *([query] if query else []), retry_after]
        if "{name}" in self.path:  # a definition's name has a documented shape: say so
            params.append(OpenApiParameter("name", str, OpenApiParameter.PATH, pattern=DEFINITION_NAME_RE.pattern))
        return params


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "x-api-key"}
