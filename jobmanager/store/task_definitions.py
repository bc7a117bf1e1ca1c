"""The task-definitions table, keyed by ``name``. Each put bumps ``version`` and keeps
a copy of that version under ``<name>#v<version>`` (a name can't hold ``#``), so the
history of a definition is a batch read of known keys, never a scan."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import Any


from jobmanager.aws.clients import dynamodb_resource
from jobmanager.config import get_config
from jobmanager.domain.model import TaskDefinition

from .codec import from_dynamo, to_dynamo

_CACHE_SECONDS = 10.0
HISTORY_MARK = "#v"


def history_key(name: str, version: int) -> str:
    return f"{name}{HISTORY_MARK}{version:06d}"


class TaskDefinitionStore:
    def __init__(self, table: Any) -> None:
        self.table = table
        self._cache: dict[str, tuple[float, TaskDefinition | None]] = {}

    def put(self, definition: TaskDefinition) -> TaskDefinition:
        """Create or replace; returns the stored definition with its new version."""
        body = {k: v for k, v in definition.to_dict().items() if k not in ("version",)}
        names = {f"#a{i}": k for i, k in enumerate(body) if k != "name"}
        values = {f":a{i}": to_dynamo(body[k]) for i, k in enumerate(body) if k != "name"}
        assignments = ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True))
        response = self.table.update_item(
            Key={"name": definition.name},
            UpdateExpression=f"SET {assignments} ADD version :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":one": 1},
            ReturnValues="ALL_NEW",
        )
        stored = TaskDefinition.from_dict(from_dynamo(response["Attributes"]))
        self._cache.pop(definition.name, None)
        snapshot = {k: to_dynamo(v) for k, v in stored.to_dict().items() if v is not None}
        self.table.put_item(Item={**snapshot, "name": history_key(stored.name, stored.version)})
        return stored

    def history(self, name: str, *, latest: int, limit: int = 20) -> list[TaskDefinition]:
        """The recorded versions of ``name``, newest first: at most ``limit``, counting
        down from version ``latest``. Versions saved before history was kept are absent."""
        versions = range(latest, max(0, latest - limit), -1)
        found = self._batch_get([history_key(name, v) for v in versions])
        return [TaskDefinition.from_dict({**found[k], "name": name})
                for k in (history_key(name, v) for v in versions) if k in found]

    def get(self, name: str, *, cached: bool = False) -> TaskDefinition | None:
        if cached:
            hit = self._cache.get(name)
            if hit and time.monotonic() - hit[0] < _CACHE_SECONDS:
                return hit[1]
        item = self.table.get_item(Key={"name": name}, ConsistentRead=True).get("Item")
        definition = TaskDefinition.from_dict(from_dynamo(item)) if item else None
        self._cache[name] = (time.monotonic(), definition)
        return definition

    def get_many(self, names: Iterable[str]) -> dict[str, TaskDefinition]:
        return {name: TaskDefinition.from_dict(item) for name, item in self._batch_get(names).items()}

    def _batch_get(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = list(dict.fromkeys(names))
        found: dict[str, dict[str, Any]] = {}
        resource = dynamodb_resource()
        for start in range(0, len(wanted), 100):
            request = {self.table.name: {"Keys": [{"name": n} for n in wanted[start : start + 100]], "ConsistentRead": True}}
            while request:
                response = resource.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table.name, []):
                    found[item["name"]] = from_dynamo(item)
                request = response.get("UnprocessedKeys") or {}
        return found

    def list_all(self) -> list[TaskDefinition]:
        """Definitions are few (a team's recipes), so a paginated scan is the right read."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            response = self.table.scan(**kwargs)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        current = (i for i in items if HISTORY_MARK not in i["name"])  # not the saved versions
        return sorted((TaskDefinition.from_dict(from_dynamo(i)) for i in current), key=lambda d: d.name)


@functools.cache
def _store_for(table_name: str) -> TaskDefinitionStore:
    return TaskDefinitionStore(dynamodb_resource().Table(table_name))


def get_task_definition_store() -> TaskDefinitionStore:
    return _store_for(get_config().task_definitions_table)
