"""S3: task artifacts and anything too large for an event, a message or an item.
Large values travel as a pointer ``{"bucket", "key", "size"}``."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from urllib.parse import quote
from typing import Any

from botocore.exceptions import ClientError

from jobmanager.config import get_config
from jobmanager.domain.errors import JobManagerError, NotFound

from .clients import client


def _bucket() -> str:
    bucket = get_config().s3_bucket
    if not bucket:
        raise JobManagerError("S3_BUCKET is not configured")
    return bucket


# Every S3 key is built here. Everything of a job lives under jobs/<jobId>/.
def artifact_key(job_id: str, task_id: str, attempt: int, name: str) -> str:
    """A file the task left in its working directory."""
    return f"jobs/{job_id}/tasks/{task_id}/attempt-{attempt}/{name}"


def result_key(job_id: str, task_id: str, attempt: int, name: str) -> str:
    """What the worker stores about an attempt: a large output, the transcript, the log."""
    return f"jobs/{job_id}/tasks/{task_id}/results/attempt-{attempt}/{name}"


def input_key(job_id: str, task_id: str) -> str:
    return f"jobs/{job_id}/inputs/{task_id}.json"


def message_key(job_id: str, task_id: str, attempt: int) -> str:
    """A task message too large for SQS."""
    return f"jobs/{job_id}/messages/{task_id}-{attempt}.json"


def cancel_marker_key(job_id: str) -> str:
    """Present once the job is cancelled: workers (no table access) HEAD it to stop its tasks."""
    return f"jobs/{job_id}/control/cancelled"


def attempt_claim_key(job_id: str, task_id: str, request_id: str, attempt: int) -> str:
    """Created once by the worker that starts this attempt (copies of its message are dropped)."""
    return f"jobs/{job_id}/control/claims/{task_id}/{request_id}/attempt-{attempt}"


def settled_key(job_id: str, task_id: str, request_id: str) -> str:
    """Created once the request's outcome (completed, or failed for good) is published."""
    return f"jobs/{job_id}/control/claims/{task_id}/{request_id}/settled"


def recorded_outcome(job_id: str, task_id: str, request_id: str) -> dict[str, Any] | None:
    """The terminal event a worker recorded for the request (its ``settled`` object) before
    publishing it; None when there is none (or an older worker's marker, which holds no event)."""
    try:
        recorded = get_json({"key": settled_key(job_id, task_id, request_id)})
    except (NotFound, ValueError):  # none, or not JSON
        return None
    return recorded if isinstance(recorded, dict) and "eventId" in recorded else None


def create_once(key: str, body: str = "") -> bool:
    """Create the object unless it exists (S3 conditional write, ``If-None-Match: *``).
    True for the one caller that created it, False for everyone after."""
    try:
        client("s3").put_object(Bucket=_bucket(), Key=key, Body=body.encode(), IfNoneMatch="*")
    except ClientError as exc:
        # 412: it exists; 409: a concurrent conditional write to it is in flight (it will).
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True


def exists(key: str) -> bool:
    """HEAD the object: cheap enough to ask on every heartbeat."""
    try:
        client("s3").head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def put_bytes(key: str, data: bytes, *, content_type: str = "application/octet-stream") -> dict[str, Any]:
    bucket = _bucket()
    client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return {"bucket": bucket, "key": key, "size": len(data)}


def put_text(key: str, text: str) -> dict[str, Any]:
    return put_bytes(key, text.encode("utf-8"), content_type="text/plain; charset=utf-8")


def put_json(key: str, value: Any) -> dict[str, Any]:
    data = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return put_bytes(key, data, content_type="application/json")


def upload_file(path: Path, key: str) -> dict[str, Any]:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    bucket = _bucket()
    client("s3").upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
    return {"bucket": bucket, "key": key, "size": path.stat().st_size}


def get_bytes(pointer: dict[str, Any], *, max_bytes: int | None = None) -> bytes:
    """The object's bytes; with ``max_bytes``, only its first bytes (a Range request)."""
    params: dict[str, Any] = {"Bucket": pointer.get("bucket") or _bucket(), "Key": pointer["key"]}
    if max_bytes is not None:
        params["Range"] = f"bytes=0-{max_bytes - 1}"
    try:
        response = client("s3").get_object(**params)
    except client("s3").exceptions.NoSuchKey as exc:
        raise NotFound(f"object {pointer['key']} not found") from exc
    return response["Body"].read()


def get_text(pointer: dict[str, Any], *, max_bytes: int | None = None) -> str:
    return get_bytes(pointer, max_bytes=max_bytes).decode("utf-8", errors="replace")


def get_json(pointer: dict[str, Any]) -> Any:
    return json.loads(get_bytes(pointer))


def output_text(item: dict[str, Any]) -> str:
    """A task's output (a task item, or its ``upstream`` entry in a message): inline, or
    fetched from its S3 pointer."""
    if "output" in item:
        return str(item["output"])
    if "outputRef" in item:
        return get_text(item["outputRef"])
    return ""


def presigned_url(pointer: dict[str, Any], *, expires: int = 300, filename: str | None = None) -> str:
    params: dict[str, Any] = {"Bucket": pointer.get("bucket") or _bucket(), "Key": pointer["key"]}
    if filename:
        # RFC 6266: a plain ASCII fallback plus the exact name, percent-encoded.
        fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
        params["ResponseContentDisposition"] = (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
        )
    return client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
