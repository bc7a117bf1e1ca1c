"""One task message, start to finish (the body of a worker slot's thread).

receive → claim the attempt → resolve pointers and the definition → ``Task Started`` →
run in a child (heartbeat: extend visibility + ``Task Heartbeat``; hard timeout) → upload
→ record the outcome in S3, then publish ``Task Completed`` / ``Task Failed`` → only then
delete the message (or, for a retry, push its visibility out by a backoff so SQS
redelivers it as attempt+1).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from multiprocessing.connection import wait as wait_any
from typing import Any

from jobmanager.aws import artifacts, bus, queue
from jobmanager.config import get_config
from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.events import Event, EventType, Source, new_event
from jobmanager.domain.model import DefinitionKind, TaskDefinition
from jobmanager.store.task_definitions import get_task_definition_store

from . import results
from .child import Child
from .credentials import require_credentials
from .delivery import Delivery, Heartbeat, Outcome, backoff_seconds, effective_attempt
from .errors import classify
from .task import TaskResult, TaskRun, fresh_dirs, task_dirs

log = logging.getLogger("consumer")

PROGRESS_MIN_INTERVAL = 1.0  # at most one Task Progress event per second per task


def _positive_int(value: Any, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


class TaskRunner:
    def __init__(self, *, worker_id: str, queue_url: str | None, abandoned: threading.Event,
                 retry_backoff: float) -> None:
        self.worker_id = worker_id
        self.queue_url = queue_url
        self.abandoned = abandoned  # cold shutdown: settle nothing, SQS redelivers
        self.retry_backoff = retry_backoff
        # MAX_CONCURRENT_CLAUDE: agent sessions share one account's rate limit, so they
        # may be capped below the worker's concurrency (command tasks are not).
        self._claude_slots = threading.BoundedSemaphore(max(1, get_config().max_concurrent_claude))

    def handle(self, delivery: Delivery) -> str:
        body = dict(delivery.message.body)
        missing = [k for k in ("jobId", "taskId", "requestId", "tenantId", "taskDefinition") if not body.get(k)]
        if missing:
            # Without its identity a message can't be reported on; after maxReceiveCount
            # SQS moves it to the DLQ, where it can be inspected.
            log.error("malformed task message %s (missing %s): left for the DLQ", delivery.message.message_id,
                      ", ".join(missing))
            delivery.settled = True
            self._change_visibility(delivery, 0)
            return Outcome.LEFT
        delivery.body = body
        attempt = effective_attempt(body, delivery.message.receive_count)
        if self._job_cancelled(body["jobId"]):
            # The cancel sweep cancelled (and announced) every task that was not running, so
            # this message is dropped without a word. (A redelivery of a task whose worker
            # died while it ran: the reconciler cancels that one.)
            log.info("job %s is cancelled: task %s not started, message deleted", body["jobId"], body["taskId"])
            self.delete(delivery)
            return Outcome.CANCELLED
        refused = self._claim(delivery, attempt)
        if refused:
            return refused
        cfg = get_config()
        # From now on the heartbeat keeps the message invisible, VISIBILITY_EXTENSION_AMOUNT
        # at a time; shortening it at once (from the queue's 15 minutes) means that if this
        # worker dies before its first heartbeat, SQS hands the task to another worker as
        # soon as that amount has passed, not a quarter of an hour later.
        self._change_visibility(delivery, cfg.visibility_extension_amount)
        # The definition's maxAttempts decides (below); the message's is the fallback when
        # there is no definition. Never above MAX_MESSAGE_RETRIES: past that many receives
        # the queue's redrive policy moves the message to the DLQ anyway.
        max_attempts = _positive_int(body.get("maxAttempts"), cfg.max_message_retries)
        max_attempts = min(max_attempts, cfg.max_message_retries)
        started = time.monotonic()
        try:
            definition = get_task_definition_store().get(body["taskDefinition"], cached=True)
            if definition is None:
                raise TaskExecutionError(f"unknown task definition '{body['taskDefinition']}'", retryable=False,
                                         kind="definition")
            max_attempts = min(definition.max_attempts, cfg.max_message_retries)
            if definition.kind is DefinitionKind.AGENT:
                require_credentials()  # before any S3 read or fork: fails in milliseconds
            run = self._prepare(body, definition, attempt)
        except Exception as exc:
            return self._failed(delivery, attempt, max_attempts, classify(exc), started, {})
        self._publish_quietly(delivery, EventType.TASK_STARTED, attempt, kind=str(definition.kind),
                              timeoutSeconds=run.timeout,
                              heartbeatIntervalSeconds=cfg.visibility_extension_interval)
        log.info("task started   job=%s task=%s attempt=%d/%d definition=%s kind=%s", run.job_id, run.task_id,
                 attempt, max_attempts, definition.name, definition.kind)
        heartbeat = Heartbeat(lambda: self._heartbeat(delivery, run, started), cfg.visibility_extension_interval)
        try:
            if definition.kind is DefinitionKind.AGENT:
                with self._claude_slots:
                    result, error = self._execute(delivery, run)
            else:
                result, error = self._execute(delivery, run)
            if self.abandoned.is_set():
                return Outcome.LEFT
            if delivery.cancel_requested:  # whatever the child managed: its job no longer wants it
                heartbeat.stop()
                return self._cancelled(delivery, attempt, started)
            extra: dict[str, Any] = {"kind": str(definition.kind)}
            if result is not None:
                try:
                    extra.update(results.artifacts_field(run, results.upload_artifacts(run)))
                    extra.update(results.completion_data(run, result))
                except Exception as exc:  # S3 trouble: the attempt failed after all
                    result, error = None, classify(exc)
            if result is None:
                assert error is not None
                extra.update(self._failure_extras(run, error))
            # Heartbeats cover the uploads too, and stop before the message is settled
            # (a late one would undo a retry's backoff).
            heartbeat.stop()
            if result is None:
                assert error is not None
                return self._failed(delivery, attempt, max_attempts, error, started, extra,
                                    backoff=definition.retry_backoff_seconds)
            return self._completed(delivery, attempt, result, started, extra)
        finally:
            heartbeat.stop()
            results.clean_up(run)

    # -- preparation ----------------------------------------------------------

    def _prepare(self, body: dict[str, Any], definition: TaskDefinition, attempt: int) -> TaskRun:
        if "payloadRef" in body:  # the dispatcher moved an oversized message to S3
            body = {**artifacts.get_json(body["payloadRef"]), "attempt": body.get("attempt", 1)}
        task_input = artifacts.get_json(body["inputRef"]) if "inputRef" in body else dict(body.get("input") or {})
        upstream = {dep: artifacts.output_text(item) for dep, item in (body.get("upstream") or {}).items()}
        cfg = get_config()
        timeout = float(definition.timeout_seconds or cfg.default_timeout)
        if definition.kind is DefinitionKind.AGENT:
            timeout = min(timeout, cfg.claude_timeout)
        work_dir, run_dir = task_dirs(cfg.work_root, body["jobId"], body["taskId"], attempt)
        budget = body.get("budgetUsd")
        run = TaskRun(job_id=body["jobId"], task_id=body["taskId"], request_id=body["requestId"], attempt=attempt,
                      definition=definition, task_input=task_input, upstream=upstream, work_dir=work_dir,
                      run_dir=run_dir, default_model=cfg.claude_model, timeout=timeout,
                      inactivity_timeout=cfg.claude_inactivity_timeout,
                      budget_usd=float(budget) if isinstance(budget, int | float) else None)
        fresh_dirs(run)
        return run

    # -- the child --------------------------------------------------------------

    def _execute(self, delivery: Delivery, run: TaskRun) -> tuple[TaskResult | None, TaskExecutionError | None]:
        timeout = run.timeout or get_config().default_timeout
        try:
            child = Child(run)
        except Exception as exc:  # no process to run it in (fork server gone, out of PIDs, ...)
            return None, classify(exc)
        delivery.child = child
        # The clock starts with the child: fetching inputs from S3 is not the task's time.
        deadline = time.monotonic() + timeout
        progress: dict[str, Any] | None = None
        last_progress = 0.0
        try:
            while not self.abandoned.is_set():
                now = time.monotonic()
                # Wake at least every second: for the deadline, progress, and a cold shutdown.
                ready = wait_any([child.conn, child.process.sentinel], timeout=max(0.0, min(deadline, now + 1) - now))
                if ready and child.conn.poll(0):  # a message, or EOF once the child has gone
                    try:
                        kind, payload = child.conn.recv()
                    except EOFError:
                        child.process.join(timeout=5)
                        return None, TaskExecutionError(
                            f"the task process died (exit code {child.process.exitcode}) without a result",
                            retryable=True, kind="crash")
                    if kind in ("ok", "error") and progress is not None:
                        # The throttle held the latest progress back: the final counts
                        # are announced before the outcome, never lost.
                        self._publish_quietly(delivery, EventType.TASK_PROGRESS, run.attempt, **progress)
                    if kind == "ok":
                        return payload, None
                    if kind == "error":
                        return None, TaskExecutionError(payload["message"], retryable=payload["retryable"],
                                                        kind=payload["kind"], details=payload.get("details"))
                    progress = payload
                now = time.monotonic()
                if progress is not None and now - last_progress >= PROGRESS_MIN_INTERVAL:
                    self._publish_quietly(delivery, EventType.TASK_PROGRESS, run.attempt, **progress)
                    progress, last_progress = None, now
                if now >= deadline:
                    child.kill(grace=get_config().kill_grace_seconds)
                    return None, TaskExecutionError(
                        f"task exceeded its timeout of {timeout:g} s; its process group was killed",
                        retryable=True, kind="timeout")
            child.kill()
            return None, None
        finally:
            delivery.child = None
            child.close()

    def _heartbeat(self, delivery: Delivery, run: TaskRun, started: float) -> None:
        if not delivery.cancel_requested and self._job_cancelled(run.job_id):
            delivery.cancel_requested = True
            child = delivery.child
            if child is not None:
                with contextlib.suppress(ValueError):  # the child was closed meanwhile: it is gone anyway
                    child.kill(grace=get_config().kill_grace_seconds)
            log.info("job %s cancelled: task %s killed", run.job_id, run.task_id)
            return
        self._change_visibility(delivery, get_config().visibility_extension_amount)
        self._publish_quietly(delivery, EventType.TASK_HEARTBEAT, run.attempt,
                              elapsedMs=int((time.monotonic() - started) * 1000))

    # -- outcomes -----------------------------------------------------------------

    def _job_cancelled(self, job_id: str) -> bool:
        """The cancel marker (the worker can't read the events table). If S3 can't be asked,
        carry on: the next heartbeat asks again."""
        try:
            return artifacts.exists(artifacts.cancel_marker_key(job_id))
        except Exception as exc:
            log.warning("could not check whether job %s is cancelled: %s", job_id, classify(exc).message)
            return False

    def _claim(self, delivery: Delivery, attempt: int) -> str | None:
        """Exactly one worker runs an attempt, whichever gets a copy of its message (SQS
        delivers at least once; the reconciler and a dispatcher retry re-send): the first
        to create the attempt's claim object in S3 runs it (None: run it). A request that
        has its outcome is never run again: its recorded outcome is published again (a run
        that died between recording and publishing it, or before deleting its message) and
        the copy deleted. If S3 can't be asked, run: at-least-once allows a duplicate run,
        never a lost one."""
        body = delivery.body
        job_id, task_id, request_id = body["jobId"], body["taskId"], body["requestId"]
        settled = artifacts.settled_key(job_id, task_id, request_id)
        try:
            if artifacts.exists(settled):
                if not self._publish_recorded(delivery):
                    return Outcome.LEFT
                log.info("task %s/%s (request %s) has its outcome already: message deleted", job_id, task_id,
                         request_id)
                self.delete(delivery)
                return Outcome.DUPLICATE
            if not artifacts.create_once(artifacts.attempt_claim_key(job_id, task_id, request_id, attempt),
                                         self.worker_id):
                log.warning("attempt %d of task %s/%s was started by another worker: message deleted", attempt,
                            job_id, task_id)
                self.delete(delivery)
                return Outcome.DUPLICATE
        except Exception as exc:
            log.warning("could not claim attempt %d of %s/%s (running it): %s", attempt, job_id, task_id,
                        classify(exc).message)
        return None

    def _conclude(self, delivery: Delivery, event_type: EventType, attempt: int, **data: Any) -> bool:
        """Publish a terminal outcome (completed, failed for good, cancelled) exactly once per
        request. It is recorded first, as the request's ``settled`` object in S3 (a
        conditional create), and published only then: a run that dies in between leaves
        its message, whose next delivery publishes the recorded event (the same eventId: the
        log keeps one, the dispatcher ignores a repeat) instead of running the task again.
        A run that finds the request settled by another run publishes that run's outcome,
        never its own. False: nothing could be published; the message stays for redelivery."""
        event = self._event(delivery, event_type, attempt, data)
        body = delivery.body
        settled = artifacts.settled_key(body["jobId"], body["taskId"], body["requestId"])
        try:
            recorded_now = artifacts.create_once(settled, json.dumps(event.to_detail(), separators=(",", ":")))
        except Exception as exc:  # S3 unreachable: publish anyway (at least once, never zero)
            log.warning("could not record the outcome of %s/%s before publishing it: %s", body["jobId"],
                        body["taskId"], classify(exc).message)
            recorded_now = True
        if not recorded_now:
            log.warning("task %s/%s (request %s) was settled by another run: its outcome stands, not this one's",
                        body["jobId"], body["taskId"], body["requestId"])
            return self._publish_recorded(delivery)
        return self._publish_event(delivery, event)

    def _publish_recorded(self, delivery: Delivery) -> bool:
        """Publish the request's recorded outcome again (idempotent: its eventId is kept)."""
        body = delivery.body
        try:
            recorded = artifacts.recorded_outcome(body["jobId"], body["taskId"], body["requestId"])
        except Exception as exc:  # S3 trouble: try again on the next delivery
            log.warning("could not read the recorded outcome of %s/%s: %s", body["jobId"], body["taskId"],
                        classify(exc).message)
            return False
        # None: an older worker's marker, written after the outcome was published
        return recorded is None or self._publish_event(delivery, Event.from_detail(recorded))

    def _cancelled(self, delivery: Delivery, attempt: int, started: float) -> str:
        duration_ms = int((time.monotonic() - started) * 1000)
        if not self._conclude(delivery, EventType.TASK_CANCELLED, attempt, reason="job cancelled",
                              durationMs=duration_ms):
            return Outcome.LEFT
        self.delete(delivery)
        log.info("task cancelled job=%s task=%s attempt=%d after %.2fs", delivery.body["jobId"],
                 delivery.body["taskId"], attempt, duration_ms / 1000)
        return Outcome.CANCELLED

    def _failure_extras(self, run: TaskRun, error: TaskExecutionError) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if "exitCode" in error.details:
            extra["exitCode"] = error.details["exitCode"]
        try:  # what a failed attempt left behind helps whoever debugs it
            uploaded = results.upload_artifacts(run)
            if uploaded:
                extra.update(results.artifacts_field(run, uploaded))
            extra.update(results.run_files(run))
        except Exception as exc:
            log.warning("could not upload artifacts of failed task %s/%s: %s", run.job_id, run.task_id, exc)
        return extra

    def _completed(self, delivery: Delivery, attempt: int, result: TaskResult, started: float,
                   extra: dict[str, Any]) -> str:
        duration_ms = int((time.monotonic() - started) * 1000)
        if not self._conclude(delivery, EventType.TASK_COMPLETED, attempt, durationMs=duration_ms, **extra):
            return Outcome.LEFT
        self.delete(delivery)
        log.info("task completed job=%s task=%s attempt=%d in %.2fs%s", delivery.body["jobId"],
                 delivery.body["taskId"], attempt, duration_ms / 1000,
                 f" cost=${result.cost_usd:.4f}" if result.cost_usd else "")
        return Outcome.COMPLETED

    def _failed(self, delivery: Delivery, attempt: int, max_attempts: int, error: TaskExecutionError,
                started: float, extra: dict[str, Any], *, backoff: float | None = None) -> str:
        """``backoff``: the definition's retryBackoffSeconds, if it sets one (else --retry-backoff)."""
        error = classify(error)  # redacts
        will_retry = error.retryable and attempt < max_attempts
        base = self.retry_backoff if backoff is None else backoff
        delay = backoff_seconds(attempt, base) if will_retry else None
        duration_ms = int((time.monotonic() - started) * 1000)
        data: dict[str, Any] = {
            "error": {"message": error.message, "kind": error.kind, "retryable": error.retryable},
            "willRetry": will_retry, "maxAttempts": max_attempts, "durationMs": duration_ms, **extra,
        }
        if delay is not None:
            data["retryInSeconds"] = delay
        if will_retry:  # not an outcome of the request: the next attempt is
            published = self._publish(delivery, EventType.TASK_FAILED, attempt, **data)
        else:
            published = self._conclude(delivery, EventType.TASK_FAILED, attempt, **data)
        if not published:
            return Outcome.LEFT
        body = delivery.body
        log.info("task failed    job=%s task=%s attempt=%d/%d in %.2fs (%s, %s): %s", body["jobId"], body["taskId"],
                 attempt, max_attempts, duration_ms / 1000, error.kind,
                 f"retry in {delay}s" if will_retry else "no retry", error.message[:300])
        if will_retry:
            delivery.settled = True
            self._change_visibility(delivery, delay or 0)
            return Outcome.RETRY
        self.delete(delivery)
        return Outcome.FAILED

    # -- AWS edges --------------------------------------------------------------------

    def _event(self, delivery: Delivery, event_type: EventType, attempt: int, data: dict[str, Any]) -> Event:
        body = delivery.body
        return new_event(event_type, tenant_id=body["tenantId"], app_name=get_config().app_name,
                         source=Source.WORKER, job_id=body["jobId"], task_id=body["taskId"],
                         request_id=body["requestId"], attempt=attempt,
                         data={"workerId": self.worker_id, "taskDefinition": body["taskDefinition"], **data})

    def _publish(self, delivery: Delivery, event_type: EventType, attempt: int, **data: Any) -> bool:
        """The outcome event. If it can't be published the message stays, and SQS redelivers it."""
        return self._publish_event(delivery, self._event(delivery, event_type, attempt, data))

    def _publish_event(self, delivery: Delivery, event: Event) -> bool:
        try:
            bus.publish([event])
            return True
        except Exception as exc:
            log.error("could not publish %s for %s/%s (message left for redelivery): %s", event.event_type,
                      delivery.body.get("jobId"), delivery.body.get("taskId"), classify(exc).message)
            return False

    def _publish_quietly(self, delivery: Delivery, event_type: EventType, attempt: int, **data: Any) -> None:
        """Started/Heartbeat/Progress are informative: losing one must not stop the task."""
        try:
            bus.publish([self._event(delivery, event_type, attempt, data)])
        except Exception as exc:
            log.warning("could not publish %s for %s/%s: %s", event_type, delivery.body.get("jobId"),
                        delivery.body.get("taskId"), classify(exc).message)

    def delete(self, delivery: Delivery) -> None:
        try:
            queue.delete(delivery.receipt_handle, queue_url=self.queue_url)
        except Exception as exc:  # redelivery re-runs the task; the dispatcher is idempotent
            log.warning("could not delete message %s: %s", delivery.message.message_id, classify(exc).message)

    def _change_visibility(self, delivery: Delivery, seconds: int) -> None:
        try:
            queue.change_visibility(delivery.receipt_handle, seconds, queue_url=self.queue_url)
        except Exception as exc:
            log.warning("could not change visibility of message %s: %s", delivery.message.message_id,
                        classify(exc).message)
