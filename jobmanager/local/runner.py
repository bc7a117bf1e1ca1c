"""The local stand-in for EventBridge → Lambda delivery.

The emulator can't invoke Lambdas, so locally each rule in infra/ targets an SQS queue
with the same InputTransformer that production uses. This runner polls those queues
and calls the handler each payload names — ``{"command": "lambdas.dispatcher.handler",
"detail": {...}}`` — exactly as Zappa's handler does in production. A handler that
raises leaves its message on the queue: it is retried after a short backoff and, after
the queue's maxReceiveCount, lands in the EventBridge target DLQ (as in AWS), carrying
the error as EventBridge does (ERROR_CODE / ERROR_MESSAGE message attributes).

It also stands in for production's SQS event sources (``SqsSource``: the task DLQ → the
dlq-processor, the EventBridge target DLQ → the Slack alert): each batch goes to the
handler as a Lambda SQS event, and the records it reports failed stay on the queue.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from jobmanager.aws.clients import client
from jobmanager.domain.redaction import redact

from .stack import RuleRoute, SqsSource

log = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = 2
Handler = Callable[[dict[str, Any], Any], Any]


def resolve_handler(command: str) -> Handler:
    module_name, _, func_name = command.rpartition(".")
    return getattr(importlib.import_module(module_name), func_name)


class LocalRunner:
    def __init__(self, routes: list[RuleRoute], *, sources: Sequence[SqsSource] = (), threads_per_route: int = 2,
                 wait_seconds: int = 1) -> None:
        self.routes = routes
        self.sources = list(sources)
        self.threads_per_route = threads_per_route
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.delivered = 0
        self.failed = 0
        self._lock = threading.Lock()

    def start(self) -> LocalRunner:
        for route in self.routes:
            for n in range(self.threads_per_route):
                thread = threading.Thread(target=self._poll, args=(route,), name=f"rule:{route.rule_name}:{n}", daemon=True)
                thread.start()
                self._threads.append(thread)
        for source in self.sources:
            thread = threading.Thread(target=self._poll_source, args=(source,), name=f"sqs:{source.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _poll(self, route: RuleRoute) -> None:
        sqs = client("sqs")
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=route.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as exc:  # the emulator going away at shutdown, say
                if self._stop.is_set():
                    return
                log.warning("runner: receive from %s failed: %s", route.rule_name, redact(str(exc)))
                self._stop.wait(1.0)
                continue
            for message in response.get("Messages", []):
                self.deliver(route, message)

    def deliver(self, route: RuleRoute, message: dict[str, Any]) -> bool:
        sqs = client("sqs")
        try:
            payload = json.loads(message["Body"])
            resolve_handler(payload.get("command") or route.command)(payload, None)
        except Exception as exc:
            with self._lock:
                self.failed += 1
            log.exception("runner: %s failed on message %s: %s", route.command, message["MessageId"], redact(str(exc)))
            if not self._dead_letter(route, message, exc):
                sqs.change_message_visibility(
                    QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=RETRY_BACKOFF_SECONDS,
                )
            return False
        sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        with self._lock:
            self.delivered += 1
        return True

    def _dead_letter(self, route: RuleRoute, message: dict[str, Any], exc: Exception) -> bool:
        """After the last try, do what EventBridge does with an event its target keeps
        failing on: put it on the target DLQ with the error (SQS's own redrive, the
        fallback, would drop it)."""
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
        if not route.dead_letter_url or not route.max_receives or receives < route.max_receives:
            return False
        error = {"ERROR_CODE": exc.__class__.__name__, "ERROR_MESSAGE": redact(str(exc))[:1000] or "-",
                 "RULE_ARN": route.rule_name, "TARGET_ARN": route.command, "RETRY_ATTEMPTS": str(receives - 1)}
        sqs = client("sqs")
        sqs.send_message(QueueUrl=route.dead_letter_url, MessageBody=message["Body"],
                         MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in error.items()})
        sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        log.error("runner: %s gave up on message %s after %d deliveries; moved to the EventBridge target DLQ",
                  route.command, message["MessageId"], receives)
        return True

    # -- SQS sources (the DLQs) ------------------------------------------------

    def _poll_source(self, source: SqsSource) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive_source(source, wait=self.wait_seconds)
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("runner: receive from %s failed: %s", source.name, redact(str(exc)))
                self._stop.wait(1.0)
                continue
            if messages:
                self.deliver_batch(source, messages)

    def _receive_source(self, source: SqsSource, *, wait: int) -> list[dict[str, Any]]:
        response = client("sqs").receive_message(
            QueueUrl=source.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def deliver_batch(self, source: SqsSource, messages: list[dict[str, Any]]) -> int:
        """One handler call for the batch, in Lambda's SQS event shape; the records it
        reports failed (or all, if it raises) come back after a backoff. Returns how many
        succeeded."""
        sqs = client("sqs")
        try:
            result = resolve_handler(source.handler)({"Records": [_lambda_record(m) for m in messages]}, None) or {}
            failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        except Exception as exc:
            log.exception("runner: %s failed on a batch of %d: %s", source.handler, len(messages), redact(str(exc)))
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=RETRY_BACKOFF_SECONDS)
            else:
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"])
        with self._lock:
            self.delivered += len(messages) - len(failed)
            self.failed += len(failed)
        return len(messages) - len(failed)

    def idle(self) -> bool:
        """True when no rule event or source message is waiting or being handled (visible,
        in flight or delayed): everything published so far has been delivered."""
        sqs = client("sqs")
        counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed")
        for url in [route.queue_url for route in self.routes] + [source.queue_url for source in self.sources]:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(counts))["Attributes"]
            if any(int(attributes.get(name, "0")) for name in counts):
                return False
        return True

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Deliver until every rule queue (and SQS source) is empty (synchronous; for tests and tools)."""
        sqs = client("sqs")
        total = 0
        for _ in range(max_rounds):
            got = 0
            for route in self.routes:
                response = sqs.receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                               MessageSystemAttributeNames=["ApproximateReceiveCount"])
                for message in response.get("Messages", []):
                    self.deliver(route, message)
                    got += 1
            for source in self.sources:
                messages = self._receive_source(source, wait=0)
                if messages:
                    self.deliver_batch(source, messages)
                    got += len(messages)
            total += got
            if not got:
                return total
        return total


def _lambda_record(message: dict[str, Any]) -> dict[str, Any]:
    """An SQS ReceiveMessage message as a Lambda SQS event record."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "dataType": value.get("DataType", "String")}
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "eventSource": "aws:sqs",
    }
