"""The events table: the append-only event log plus the job and task projections.

Every state transition is a conditional write, so concurrent and repeated callers
(SQS redelivery, EventBridge retries, two dispatchers racing) agree on one winner.
A failed condition surfaces as ``ConditionFailed`` or as a ``False`` return — never as
a silent overwrite.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from jobmanager.aws.clients import dynamodb_resource
from jobmanager.config import get_config

from . import keys
from .codec import Page, decode_cursor, encode_cursor, from_dynamo, to_dynamo

_TABLE_KEYS = {"PK", "SK"}
_deserializer = TypeDeserializer()


class ConditionFailed(Exception):
    """A conditional write lost: the item was not in the expected state."""

    def __init__(self, message: str, item: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.item = item


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


def _cancelled_item(exc: ClientError, index: int = 0) -> dict[str, Any] | None:
    reasons = exc.response.get("CancellationReasons") or []
    if index < len(reasons) and reasons[index].get("Item"):
        raw = reasons[index]["Item"]
        return from_dynamo({k: _deserializer.deserialize(v) for k, v in raw.items()})
    return None


def _clean(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return from_dynamo({k: v for k, v in item.items() if not (k in _TABLE_KEYS or k.startswith("GSI"))})


class EventStore:
    """Repository over the events table. Collaborators get one from ``get_event_store``."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.client = table.meta.client

    # ── the event log ────────────────────────────────────────────────────────

    def append_event(self, detail: dict[str, Any], *, ttl: int) -> bool:
        """Store an event once. Returns False when it was already stored (a retry)."""
        item = {**keys.event_item_keys(detail), **to_dynamo(detail), "entity": "event", "ttl": ttl}
        try:
            self.table.put_item(Item=item, ConditionExpression=Attr("PK").not_exists())
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def job_events(self, job_id: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        return self._query(
            partition=("PK", keys.job_pk(job_id)),
            sort_prefix=keys.EVENT_SK_PREFIX,
            limit=limit,
            cursor=cursor,
        )

    def task_history(self, job_id: str, task_id: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        return self._query(
            partition=("GSI2PK", keys.task_history_pk(job_id, task_id)),
            index=keys.TASK_HISTORY_INDEX,
            limit=limit,
            cursor=cursor,
        )

    def events_for_request(self, request_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        return self._query(
            partition=("GSI3PK", keys.request_pk(request_id)),
            index=keys.REQUEST_INDEX,
            limit=limit,
            cursor=None,
        ).items

    # ── jobs ─────────────────────────────────────────────────────────────────

    def put_new_job(self, job: dict[str, Any], tasks: Iterable[dict[str, Any]]) -> None:
        """Write the task items, then the job item last: until the job item exists, the
        job is invisible (listings and reads start from it), so a crash mid-way leaves
        no half-written job anyone can see."""
        self.put_tasks(tasks)
        try:
            self.table.put_item(Item=to_dynamo(job), ConditionExpression=Attr("PK").not_exists())
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"job {job['jobId']} already exists") from exc
            raise

    def put_tasks(self, tasks: Iterable[dict[str, Any]]) -> None:
        with self.table.batch_writer() as batch:
            for task in tasks:
                batch.put_item(Item=to_dynamo(task))

    def get_job(self, job_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        response = self.table.get_item(Key=keys.job_key(job_id), ConsistentRead=consistent)
        return _clean(response.get("Item"))

    def list_jobs(self, tenant_id: str, *, status: str | None = None, limit: int = 25, cursor: str | None = None) -> Page:
        """Newest first: one page of one index query."""
        return self._job_listing(tenant_id, status, limit=limit, cursor=cursor)

    def _job_listing(self, tenant_id: str, status: str | None, *, limit: int, cursor: str | None,
                     filter_expression: Any = None) -> Page:
        partition = (("GSI5PK", keys.job_status_pk(tenant_id, status)) if status
                     else ("GSI1PK", keys.tenant_jobs_pk(tenant_id)))
        return self._query(
            partition=partition,
            index=keys.STATUS_INDEX if status else keys.TENANT_JOBS_INDEX,
            limit=limit,
            cursor=cursor,
            newest_first=True,
            filter_expression=filter_expression,
        )

    def search_jobs(self, tenant_id: str, text: str, *, status: str | None = None, limit: int = 25,
                    cursor: str | None = None, rounds: int = 8) -> Page:
        """Newest first, the jobs whose name contains ``text`` (case-sensitive, as
        DynamoDB's ``contains``). A filter is applied after each page is read, so this
        reads up to ``rounds`` pages of ``limit`` jobs until ``limit`` match; the cursor
        continues where the reading stopped (a page may hold fewer, or none)."""
        found: list[dict[str, Any]] = []
        for _ in range(rounds):
            page = self._job_listing(tenant_id, status, limit=limit, cursor=cursor,
                                     filter_expression=Attr("name").contains(text))
            found.extend(page.items)
            cursor = page.next_cursor
            if len(found) >= limit or not cursor:
                break
        return Page(items=found, next_cursor=cursor)

    def count_jobs(self, tenant_id: str, status: str, *, max_pages: int = 20) -> tuple[int, bool]:
        """How many of a tenant's jobs have ``status`` (the sparse status index, ``Select=COUNT``):
        the count and whether it is exact (False once ``max_pages`` of 1 MB were counted)."""
        kwargs: dict[str, Any] = {
            "IndexName": keys.STATUS_INDEX, "Select": "COUNT",
            "KeyConditionExpression": Key("GSI5PK").eq(keys.job_status_pk(tenant_id, status)),
        }
        total = 0
        for _ in range(max_pages):
            response = self.table.query(**kwargs)
            total += response.get("Count", 0)
            if "LastEvaluatedKey" not in response:
                return total, True
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return total, False

    def add_to_job_total(self, job_id: str, count: int, *, now: str) -> None:
        try:
            self.table.update_item(
                Key=keys.job_key(job_id),
                UpdateExpression="ADD taskCount :n SET updatedAt = :now",
                ConditionExpression="#st = :running",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":n": count, ":now": now, ":running": "running"},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"job {job_id} is not running") from exc
            raise

    def finish_job(self, job_id: str, *, tenant_id: str, status: str, event_id: str, trigger: str, now: str) -> bool:
        """running → completed | failed, once. Records the event that announces it and
        the event that caused it, so a retry of the same dispatch re-announces it with
        the same id (stored once) instead of staying silent."""
        try:
            self.table.update_item(
                Key=keys.job_key(job_id),
                UpdateExpression="SET #st = :status, finishedAt = :now, updatedAt = :now, "
                "finishEventId = :eid, finishedBy = :trigger, GSI5PK = :gsi5",
                ConditionExpression="#st = :running",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":status": status,
                    ":now": now,
                    ":eid": event_id,
                    ":trigger": trigger,
                    ":running": "running",
                    ":gsi5": keys.job_status_pk(tenant_id, status),
                },
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    # ── tasks ────────────────────────────────────────────────────────────────

    def get_task(self, job_id: str, task_id: str, *, consistent: bool = True) -> dict[str, Any] | None:
        response = self.table.get_item(Key=keys.task_key(job_id, task_id), ConsistentRead=consistent)
        return _clean(response.get("Item"))

    def get_tasks(self, job_id: str, task_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """BatchGetItem, 100 keys per call, following UnprocessedKeys."""
        wanted = list(dict.fromkeys(task_ids))
        found: dict[str, dict[str, Any]] = {}
        resource = dynamodb_resource()
        for start in range(0, len(wanted), 100):
            request = {
                self.table.name: {
                    "Keys": [keys.task_key(job_id, t) for t in wanted[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = resource.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table.name, []):
                    clean = _clean(item)
                    found[clean["taskId"]] = clean
                request = response.get("UnprocessedKeys") or {}
        return found

    def list_tasks(self, job_id: str, *, limit: int = 200, cursor: str | None = None) -> Page:
        return self._query(
            partition=("PK", keys.job_pk(job_id)),
            sort_prefix=keys.TASK_SK_PREFIX,
            limit=limit,
            cursor=cursor,
            consistent=True,
        )

    def update_task(
        self,
        job_id: str,
        task_id: str,
        *,
        set_fields: dict[str, Any],
        condition: str,
        values: dict[str, Any] | None = None,
        remove: Iterable[str] = (),
        add_to_job: dict[str, int] | None = None,
        job_must_be_running: bool = False,
    ) -> dict[str, Any] | None:
        """Conditionally update a task item; optionally, in the same transaction, add to
        the job's counters (so a task's terminal state and the job's count of terminal
        tasks can never disagree). ``condition`` may use ``#st`` for status.
        ``job_must_be_running`` (with ``add_to_job``) also requires the job to be running:
        a cancelled job takes no more outcomes. Then ConditionFailed may carry no item.
        Returns the new item, or raises ConditionFailed carrying the current one."""
        names = {"#st": "status"}
        expr_values: dict[str, Any] = {}
        assignments = []
        for i, (name, value) in enumerate(set_fields.items()):
            names[f"#f{i}"] = name
            expr_values[f":f{i}"] = to_dynamo(value)
            assignments.append(f"#f{i} = :f{i}")
        expr_values.update(to_dynamo(values or {}))
        update = "SET " + ", ".join(assignments)
        removals = list(remove)
        if removals:
            update += " REMOVE " + ", ".join(removals)
        key = keys.task_key(job_id, task_id)
        if not add_to_job:
            try:
                response = self.table.update_item(
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=expr_values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if _is_condition_failure(exc):
                    item = exc.response.get("Item")
                    current = (
                        from_dynamo({k: _deserializer.deserialize(v) for k, v in item.items()}) if item else None
                    )
                    raise ConditionFailed(f"task {job_id}/{task_id}: condition failed", current) from exc
                raise
            return _clean(response["Attributes"])

        counter_names = {f"#c{i}": name for i, name in enumerate(add_to_job)}
        counter_values = {f":c{i}": to_dynamo(n) for i, n in enumerate(add_to_job.values())}
        job_condition: dict[str, Any] = {}
        if job_must_be_running:  # (overrides the names/values below: the ADD list is built from those)
            job_condition = {
                "ConditionExpression": "#jst = :jrunning",
                "ExpressionAttributeNames": {**counter_names, "#jst": "status"},
                "ExpressionAttributeValues": {**counter_values, ":jrunning": "running"},
            }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": key,
                            "UpdateExpression": update,
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": expr_values,
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": keys.job_key(job_id),
                            "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(counter_names, counter_values)),
                            "ExpressionAttributeNames": counter_names,
                            "ExpressionAttributeValues": counter_values,
                            **job_condition,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"task {job_id}/{task_id}: condition failed", _cancelled_item(exc)) from exc
            raise
        return None

    def mark_sent(self, job_id: str, sent: list[tuple[str, str]], *, now: str) -> None:
        """Record that these (taskId, requestId) messages were sent: one transaction per
        100 tasks. A task that moved on to another request is left alone."""
        for start in range(0, len(sent), 100):
            chunk = sent[start : start + 100]
            items = [
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": keys.task_key(job_id, task_id),
                        "UpdateExpression": "SET sentAt = :now",
                        "ConditionExpression": "requestId = :rid",
                        "ExpressionAttributeValues": {":now": now, ":rid": request_id},
                    }
                }
                for task_id, request_id in chunk
            ]
            try:
                if len(items) == 1:
                    update = items[0]["Update"]
                    self.table.update_item(**{k: v for k, v in update.items() if k != "TableName"})
                else:
                    self.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise

    def count_done_dependency(self, job_id: str, task_id: str, dependency: str) -> dict[str, Any] | None:
        """Record ``dependency`` as done on ``task_id``, once. Returns the updated item,
        or None when it had already been counted (a redelivered event)."""
        try:
            response = self.table.update_item(
                Key=keys.task_key(job_id, task_id),
                UpdateExpression="ADD doneDeps :dep SET remaining = remaining - :one",
                ConditionExpression="attribute_exists(PK) AND NOT contains(doneDeps, :d)",
                ExpressionAttributeValues={":dep": {dependency}, ":d": dependency, ":one": 1},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return _clean(response["Attributes"])

    def register_successor(self, job_id: str, task_id: str, successor: str) -> bool:
        """Add ``successor`` to a task that has not finished yet; False if it already has
        (then the caller counts the dependency itself)."""
        try:
            self.table.update_item(
                Key=keys.task_key(job_id, task_id),
                UpdateExpression="ADD successors :s",
                ConditionExpression="#st IN (:p, :q, :r)",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":s": {successor}, ":p": "pending", ":q": "queued", ":r": "running"},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    # ── health check ─────────────────────────────────────────────────────────

    def active_tasks(self, tenant_id: str, status: str = "running", *, before: str | None = None,
                     page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Task items the sparse status index (GSI5) lists under ``status``, oldest first;
        with ``before`` (ISO), only those that entered it earlier: one key-range query,
        never a scan. The index lags: callers re-read an item before acting on it."""
        condition = Key("GSI5PK").eq(keys.task_status_pk(tenant_id, status))
        if before is not None:
            condition &= Key("GSI5SK").lt(before)
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"IndexName": keys.STATUS_INDEX, "KeyConditionExpression": condition,
                                      "Limit": page_size}
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self.table.query(**kwargs)
            for item in response.get("Items", []):
                yield _clean(item)
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def claim_health_alert(self, job_id: str, task_id: str, *, token: str, attempt: int, now: str) -> bool:
        """Record that the alert ``token`` (an attempt's level) is being sent, once. False
        when it was already claimed, or when the task is no longer running that attempt —
        it finished or was retried since it was read — so such a task gets no alert."""
        try:
            self.table.update_item(
                Key=keys.task_key(job_id, task_id),
                UpdateExpression="ADD alertedLevels :tokens SET lastAlertAt = :now",
                ConditionExpression="#st = :running AND attempt = :attempt AND NOT contains(alertedLevels, :token)",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":tokens": {token}, ":token": token, ":running": "running", ":attempt": attempt, ":now": now,
                },
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def events_of_type(
        self, tenant_id: str, event_type: str, *, limit: int = 25, cursor: str | None = None
    ) -> Page:
        """One page of a tenant's events of one type, newest first (GSI4)."""
        return self._query(
            partition=("GSI4PK", keys.event_type_pk(tenant_id, event_type)),
            index=keys.EVENT_TYPE_INDEX,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )

    # ── idempotency ──────────────────────────────────────────────────────────

    def claim_idempotency_key(
        self, tenant_id: str, key: str, *, job_id: str, fingerprint: str, ttl: int
    ) -> dict[str, str] | None:
        """Reserve ``key`` for ``job_id`` and the request ``fingerprint``. Returns the
        holder (its ``jobId`` and ``fingerprint``) when the key was already taken."""
        try:
            self.table.put_item(
                Item={**keys.idempotency_key(tenant_id, key), "jobId": job_id, "fingerprint": fingerprint,
                      "ttl": ttl, "entity": "idempotency"},
                ConditionExpression=Attr("PK").not_exists(),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                item = self.table.get_item(Key=keys.idempotency_key(tenant_id, key), ConsistentRead=True).get("Item")
                return {"jobId": item["jobId"], "fingerprint": item.get("fingerprint", "")} if item else None
            raise
        return None

    def release_idempotency_key(self, tenant_id: str, key: str) -> None:
        self.table.delete_item(Key=keys.idempotency_key(tenant_id, key))

    # ── helpers ──────────────────────────────────────────────────────────────

    def _query(
        self,
        *,
        partition: tuple[str, str],
        limit: int,
        cursor: str | None,
        sort_prefix: str | None = None,
        index: str | None = None,
        newest_first: bool = False,
        consistent: bool = False,
        filter_expression: Any = None,
    ) -> Page:
        """One page of one partition (of the table, or of ``index`` when its partition
        attribute is ``GSI<n>PK``). A cursor must be a key of that same listing."""
        attr, value = partition
        key = Key(attr).eq(value)
        if sort_prefix:
            key &= Key("SK").begins_with(sort_prefix)
        kwargs: dict[str, Any] = {"KeyConditionExpression": key, "Limit": limit, "ScanIndexForward": not newest_first}
        if filter_expression is not None:
            kwargs["FilterExpression"] = filter_expression
        if index:
            kwargs["IndexName"] = index
        elif consistent:
            kwargs["ConsistentRead"] = True
        start = decode_cursor(
            cursor,
            key_names=_TABLE_KEYS | ({attr, attr.removesuffix("PK") + "SK"} if index else set()),
            partition=partition,
            sort_prefix=sort_prefix,
        )
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self.table.query(**kwargs)
        return Page(
            items=[_clean(item) for item in response.get("Items", [])],
            next_cursor=encode_cursor(response.get("LastEvaluatedKey")),
        )


@functools.cache
def _store_for(table_name: str) -> EventStore:
    return EventStore(dynamodb_resource().Table(table_name))


def get_event_store() -> EventStore:
    return _store_for(get_config().events_table)


def event_ttl(now_epoch: float) -> int:
    return int(now_epoch) + get_config().event_ttl_days * 86400
