"""The local stand-in for EventBridge → Lambda delivery.

The emulator can't invoke Lambdas, so locally each rule in infra/ targets an SQS queue
with the same InputTransformer that production uses. This runner polls those queues
and calls the handler each payload names — ``{"command": "lambdas.dispatcher.handler",
"detail": {...}}`` — exactly as Zappa's handler does in production. A handler that
raises leaves its message on the queue: it is retried after a short backoff and, after
the queue's maxReceiveCount, lands in the EventBridge target DLQ (as in AWS).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from jobmanager.aws.clients import client
from jobmanager.domain.redaction import redact

from .stack import RuleRoute

log = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = 2
Handler = Callable[[dict[str, Any], Any], Any]


def resolve_handler(command: str) -> Handler:
    module_name, _, func_name = command.rpartition(".")
    return getattr(importlib.import_module(module_name), func_name)


class LocalRunner:
    def __init__(self, routes: list[RuleRoute], *, threads_per_route: int = 2, wait_seconds: int = 1) -> None:
        self.routes = routes
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
                    QueueUrl=route.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds
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
            sqs.change_message_visibility(
                QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=RETRY_BACKOFF_SECONDS
            )
            return False
        sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        with self._lock:
            self.delivered += 1
        return True

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Deliver until every rule queue is empty (synchronous; for tests and tools)."""
        sqs = client("sqs")
        total = 0
        for _ in range(max_rounds):
            got = 0
            for route in self.routes:
                response = sqs.receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                for message in response.get("Messages", []):
                    self.deliver(route, message)
                    got += 1
            total += got
            if not got:
                return total
        return total
