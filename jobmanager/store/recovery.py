"""Store operations for job control and recovery: reopening a failed job for a retry.

They extend ``EventStore`` from outside (same table, same key helpers) so that the
hot-path repository stays small; like everything in ``store``, they are the only code
here that talks to DynamoDB.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import keys
from .codec import to_dynamo
from .events_table import ConditionFailed, EventStore, _cancelled_item, _is_condition_failure


def retry_transition(
    store: EventStore,
    *,
    job: dict[str, Any],
    task_id: str,
    set_fields: dict[str, Any],
    condition: str,
    values: dict[str, Any],
    remove: tuple[str, ...],
    counter: str,
) -> None:
    """In one transaction: the task leaves its terminal state, the job takes it back
    (``counter`` - 1) and, if it had failed, runs again. Atomic, so nobody can see the
    job reopened with every task still terminal (and end it again), nor a task retried
    in a job that was cancelled meanwhile. Raises ConditionFailed (item: the task's
    current state when the task condition failed; None when the job's did)."""
    job_id = job["jobId"]
    names = {"#st": "status"}
    expr_values: dict[str, Any] = {}
    assignments = []
    for i, (name, value) in enumerate(set_fields.items()):
        names[f"#f{i}"] = name
        expr_values[f":f{i}"] = to_dynamo(value)
        assignments.append(f"#f{i} = :f{i}")
    expr_values.update(to_dynamo(values))
    update = "SET " + ", ".join(assignments)
    if remove:  # placeholders here too: "error" is a reserved word
        names |= {f"#r{i}": name for i, name in enumerate(remove)}
        update += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    try:
        store.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": store.table.name,
                        "Key": keys.task_key(job_id, task_id),
                        "UpdateExpression": update,
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": expr_values,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Update": {
                        "TableName": store.table.name,
                        "Key": keys.job_key(job_id),
                        # A running job stays running (these SETs change nothing); a failed one
                        # reopens and forgets how it ended, so it can end again, once.
                        "UpdateExpression": "SET #st = :running, GSI5PK = :gsi5 ADD #counter :minus "
                        "REMOVE finishEventId, finishedBy, finishedAt",
                        "ConditionExpression": "#st IN (:running, :failed)",
                        "ExpressionAttributeNames": {"#st": "status", "#counter": counter},
                        "ExpressionAttributeValues": {
                            ":running": "running",
                            ":failed": "failed",
                            ":gsi5": keys.job_status_pk(job["tenantId"], "running"),
                            ":minus": -1,
                        },
                    }
                },
            ]
        )
    except ClientError as exc:
        if _is_condition_failure(exc):
            raise ConditionFailed(f"task {job_id}/{task_id}: retry condition failed", _cancelled_item(exc)) from exc
        raise
