"""Input shapes, checked field by field before any service runs. The DAG rules
(cycles, unknown dependencies, definitions) live in the domain, not here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from jobmanager.domain.model import PERMISSION_MODES, TaskSpec


class StrictInput(serializers.Serializer):
    """A request body whose unknown fields are refused by name: a typo (``depends_on``
    for ``dependsOn``) must not silently change what runs. ``ignored`` names read-only
    fields a client may send back unchanged."""

    ignored: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields) - self.ignored)
            if unknown:
                expected = ", ".join(self.fields)
                raise serializers.ValidationError({name: [f"unknown field (expected: {expected})"] for name in unknown})
        return super().to_internal_value(data)


class TaskInput(StrictInput):
    taskId = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$", error_messages={
        "invalid": "taskId must be 1-64 letters, digits, '-' or '_'"})
    taskDefinition = serializers.CharField(max_length=64)
    input = serializers.DictField(required=False, default=dict)
    dependsOn = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list,
                                      max_length=1000)


def task_specs(validated_tasks: list[dict]) -> list[TaskSpec]:
    return [TaskSpec(t["taskId"], t["taskDefinition"], t["input"], tuple(t["dependsOn"])) for t in validated_tasks]


class CreateJobInput(StrictInput):
    name = serializers.CharField(max_length=200)
    tasks = TaskInput(many=True, allow_empty=False, max_length=1000)
    metadata = serializers.DictField(required=False, default=dict)
    maxBudgetUsd = serializers.FloatField(min_value=0.0001, max_value=100000, required=False, allow_null=True,
                                          default=None)


class AddTasksInput(StrictInput):
    tasks = TaskInput(many=True, allow_empty=False, max_length=1000)


class ListJobsInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["running", "completed", "failed", "cancelled"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, required=False)
    cursor = serializers.CharField(required=False, max_length=2000)


class GetJobInput(serializers.Serializer):
    taskLimit = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    cursor = serializers.CharField(required=False, max_length=2000)


class TaskDefinitionInput(StrictInput):
    # What GET /task-definitions returns beside these: a definition can be sent back as read.
    ignored = frozenset({"name", "version", "updatedAt"})

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sent, named = self.initial_data.get("name"), self.context.get("name")
        if sent is not None and sent != named:
            raise serializers.ValidationError({"name": [f"the body names {sent!r} but the URL names {named!r}"]})
        return attrs

    kind = serializers.ChoiceField(choices=["agent", "command"], default="agent")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    role = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    tag = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    instructions = serializers.CharField(max_length=100000, required=False, allow_blank=True, default="")
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True, default=None)
    maxTurns = serializers.IntegerField(min_value=1, max_value=200, default=10)
    allowedTools = serializers.ListField(child=serializers.CharField(max_length=100), default=list, max_length=100)
    timeoutSeconds = serializers.IntegerField(min_value=1, max_value=86400, default=120)
    maxAttempts = serializers.IntegerField(min_value=1, max_value=10, default=3)
    retryBackoffSeconds = serializers.FloatField(min_value=0, max_value=900, required=False, allow_null=True,
                                                 default=None)
    command = serializers.ListField(child=serializers.CharField(max_length=10000), default=list, max_length=200)
    maxBudgetUsd = serializers.FloatField(min_value=0.0001, max_value=100000, required=False, allow_null=True,
                                          default=None)
    permissionMode = serializers.ChoiceField(choices=PERMISSION_MODES, required=False, allow_null=True, default=None)
