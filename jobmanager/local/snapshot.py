"""The local stack's memory across restarts.

The emulator keeps nothing when it stops, so ``run_local`` saves what the system knows —
both DynamoDB tables (every event, projection and task definition) and the artifacts
bucket — into the data folder, every ``SAVE_INTERVAL_SECONDS`` and on exit, and loads it
back into the fresh emulator at start.

The queues are not saved, and need not be: every message is derivable from the task
items. A ``queued`` task's message is sent again and a ``running`` task (its worker
stopped with the stack) is sent as its next attempt (``reconcile.resume_interrupted``),
so unfinished jobs finish. A save is a set of files replaced atomically, each one
whole: a crash mid-save leaves the previous copy of that file.

This is local tooling beside ``stack.py`` (which deploys the template); production
keeps its data in AWS and never runs it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobmanager.aws.clients import client

log = logging.getLogger(__name__)

SAVE_INTERVAL_SECONDS = 30.0
_BATCH = 25  # BatchWriteItem's limit


@dataclass(frozen=True)
class SnapshotCounts:
    items: dict[str, int]
    objects: int

    def describe(self) -> str:
        tables = ", ".join(f"{n} items of the {name} table" for name, n in self.items.items())
        return f"{tables}, {self.objects} objects of the artifacts bucket"


class Snapshot:
    """Save/restore the tables and the bucket named by a stack environment."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        # By role, not by name: the stage (and so the table names) may change between runs.
        self.tables = {"events": env["EVENTS_TABLE"], "task-definitions": env["TASK_DEFINITIONS_TABLE"]}
        self.bucket = env["S3_BUCKET"]

    @property
    def exists(self) -> bool:
        return (self.folder / "dynamodb" / "events.json").exists()

    # ── save ─────────────────────────────────────────────────────────────────

    def save(self) -> SnapshotCounts:
        items = {role: self._save_table(role, table) for role, table in self.tables.items()}
        return SnapshotCounts(items, self._save_bucket())

    def _save_table(self, role: str, table: str) -> int:
        dynamodb = client("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        _write_atomically(self.folder / "dynamodb" / f"{role}.json", json.dumps(items))  # DynamoDB JSON: types kept
        return len(items)

    def _save_bucket(self) -> int:
        """Download the objects not saved yet (artifacts are written once, never changed)."""
        s3 = client("s3")
        index_path = self.folder / "s3" / "index.json"
        index: dict[str, str] = json.loads(index_path.read_text()) if index_path.exists() else {}
        current: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], obj["ETag"]
                current[key] = etag
                if index.get(key) != etag:
                    body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    _write_atomically(self._object_path(key), body)
        _write_atomically(index_path, json.dumps(current))
        return len(current)

    # ── restore ──────────────────────────────────────────────────────────────

    def restore(self) -> SnapshotCounts:
        """Load a saved copy into the (empty, freshly deployed) tables and bucket."""
        items = {role: self._restore_table(role, table) for role, table in self.tables.items()}
        return SnapshotCounts(items, self._restore_bucket())

    def _restore_table(self, role: str, table: str) -> int:
        path = self.folder / "dynamodb" / f"{role}.json"
        if not path.exists():
            return 0
        items = json.loads(path.read_text())
        dynamodb = client("dynamodb")
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start:start + _BATCH]]
            while requests:
                unprocessed = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
                requests = unprocessed.get(table, [])
        return len(items)

    def _restore_bucket(self) -> int:
        index_path = self.folder / "s3" / "index.json"
        if not index_path.exists():
            return 0
        s3 = client("s3")
        keys = list(json.loads(index_path.read_text()))
        for key in keys:
            s3.put_object(Bucket=self.bucket, Key=key, Body=self._object_path(key).read_bytes())
        # The emulator gives new ETags; remember them so the next save downloads nothing.
        self._save_bucket()
        return len(keys)

    def _object_path(self, key: str) -> Path:
        path = (self.folder / "s3" / "objects" / key).resolve()
        if not path.is_relative_to((self.folder / "s3" / "objects").resolve()):
            raise ValueError(f"object key escapes the snapshot folder: {key!r}")
        return path


def _write_atomically(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
