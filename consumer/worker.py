"""The worker loop, rq-style: long-poll SQS for as many messages as there are free
slots, run each in its own thread (which runs the task in a child process), repeat.

Shutdown: the first SIGTERM/SIGINT is warm — take no new messages (any received in
that last poll are handed back at once), let running tasks finish, exit 0. The second
is cold — kill every task's process group and exit now, settling nothing: SQS
redelivers those messages when their visibility runs out.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections import OrderedDict
from typing import Any

from jobmanager.aws import queue
from jobmanager.config import get_config
from jobmanager.domain.redaction import RedactingFilter

from .child import mp_context
from .delivery import Delivery, Outcome
from .errors import classify
from .runner import TaskRunner

log = logging.getLogger("consumer")

RECENTLY_FINISHED = 1000  # remembered (requestId, attempt)s and message ids, for duplicate deliveries


def configure_logging() -> None:
    """One line per event to stdout, redacted, whatever Django's LOGGING says."""
    if any(getattr(h, "_jobmanager_worker", False) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    handler._jobmanager_worker = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class Worker:
    def __init__(self, *, concurrency: int, burst: bool, queue_url: str | None, wait_seconds: int,
                 retry_backoff: float) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        cfg = get_config()
        self.worker_id = cfg.worker_id
        self.concurrency = concurrency
        self.burst = burst
        self.queue_url = queue_url or cfg.task_queue_url
        self.wait_seconds = max(0, min(20, wait_seconds))
        self.stopping = threading.Event()  # warm shutdown
        self.abandoned = threading.Event()  # cold shutdown
        self.runner = TaskRunner(worker_id=self.worker_id, queue_url=self.queue_url, abandoned=self.abandoned,
                                 retry_backoff=retry_backoff)
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)
        self._running: dict[str, Delivery] = {}  # by SQS message id
        self._running_keys: dict[tuple[str, int], Delivery] = {}
        self._finished: OrderedDict[Any, None] = OrderedDict()
        self._threads: list[threading.Thread] = []

    # -- the loop --------------------------------------------------------------------

    def work(self) -> int:
        if not self.queue_url:
            log.error("no task queue: set SQS_QUEUE_URL (or TASK_QUEUE_URL) or pass --queue-url")
            return 2
        self._install_signal_handlers()
        self._start_forkserver()
        cfg = get_config()
        if cfg.visibility_extension_amount <= cfg.visibility_extension_interval:
            log.warning("VISIBILITY_EXTENSION_AMOUNT (%ss) should exceed VISIBILITY_EXTENSION_INTERVAL (%ss): a "
                        "running task's message may become visible between heartbeats",
                        cfg.visibility_extension_amount, cfg.visibility_extension_interval)
        log.info("worker %s started: queue=%s concurrency=%d%s", self.worker_id, self.queue_url, self.concurrency,
                 " burst" if self.burst else "")
        failures = 0
        while not self.stopping.is_set():
            free = self._wait_for_free_slot()
            if free == 0:
                break
            # Burst ends on an empty receive only if nothing ran meanwhile: a task that
            # finished during the poll may have just made its message visible again (retry).
            was_busy = self._busy()
            try:
                messages = queue.receive(max_messages=free, wait_seconds=self.wait_seconds, queue_url=self.queue_url)
                failures = 0
            except Exception as exc:
                error = classify(exc)
                if not error.retryable:  # a wrong queue URL or credentials: retrying won't fix it
                    log.error("cannot receive from %s: %s", self.queue_url, error.message)
                    self._drain()
                    return 1
                failures += 1  # the queue is unreachable: back off, don't spin
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("receive failed (%s); retrying in %.1fs", error.message, delay)
                self.stopping.wait(delay)
                continue
            if self.stopping.is_set():
                self._hand_back(messages)
                break
            for message in messages:
                self._dispatch(message)
            if self.burst and not messages and not was_busy and not self._busy():
                log.info("burst: queue empty and nothing running")
                break
        self._drain()
        log.info("worker %s stopped", self.worker_id)
        return 0

    def _wait_for_free_slot(self) -> int:
        with self._slot_freed:
            while not self.stopping.is_set():
                free = self.concurrency - len(self._running)
                if free > 0:
                    return free
                self._slot_freed.wait(0.5)  # a timeout, so a signal is noticed promptly
        return 0

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def _dispatch(self, message: queue.ReceivedMessage) -> None:
        delivery = Delivery(message=message, receipt_handle=message.receipt_handle)
        key = delivery.key
        with self._lock:
            current = self._running.get(message.message_id)
            if current is not None and not current.settled:
                # SQS gave us a message we're already running (its visibility lapsed):
                # keep running it, under the newest receipt handle (only that one can delete).
                current.receipt_handle = message.receipt_handle
                log.warning("duplicate delivery of running message %s ignored", message.message_id)
                return
            twin = self._running_keys.get(key) if key is not None else None
            running_twin = key is not None and twin is not None and not twin.settled
            already_done = message.message_id in self._finished or (key is not None and key in self._finished)
            if not (already_done or running_twin):
                self._running[message.message_id] = delivery
                if key is not None:
                    self._running_keys[key] = delivery
        if running_twin:
            # Another message for the attempt this worker is running (a dispatcher re-send
            # after a crash): the running copy settles it, so this one goes now rather than
            # coming back in 15 minutes.
            log.warning("duplicate of running task (requestId=%s, attempt=%d) deleted", *key)
            self.runner.delete(delivery)
            return
        if already_done:
            # This worker already published this task attempt's outcome: nothing to redo.
            log.info("duplicate of finished task %s deleted", key or message.message_id)
            self.runner.delete(delivery)
            return
        thread = threading.Thread(target=self._run, args=(delivery,), name=f"task-{message.message_id[:8]}",
                                  daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, delivery: Delivery) -> None:
        outcome = Outcome.LEFT
        try:
            outcome = self.runner.handle(delivery)
        except Exception:  # a bug in the worker itself: free the slot; SQS redelivers the message
            log.exception("unexpected error handling message %s", delivery.message.message_id)
        finally:
            with self._slot_freed:
                # A retried message may already be running again under a new Delivery.
                if self._running.get(delivery.message.message_id) is delivery:
                    del self._running[delivery.message.message_id]
                key = delivery.key
                if key is not None and self._running_keys.get(key) is delivery:
                    del self._running_keys[key]
                if outcome in Outcome.TERMINAL:
                    for remembered in (delivery.message.message_id, key):
                        if remembered is not None:
                            self._finished[remembered] = None
                    while len(self._finished) > RECENTLY_FINISHED:
                        self._finished.popitem(last=False)
                self._slot_freed.notify_all()

    def _hand_back(self, messages: list[queue.ReceivedMessage]) -> None:
        """Received during shutdown: make them visible to other workers right away."""
        for message in messages:
            try:
                queue.change_visibility(message.receipt_handle, 0, queue_url=self.queue_url)
            except Exception as exc:
                log.warning("could not hand back message %s: %s", message.message_id, classify(exc).message)

    def _drain(self) -> None:
        if self._busy():
            log.info("waiting for %d running task(s) to finish", len(self._running))
        for thread in list(self._threads):
            while thread.is_alive():
                thread.join(0.5)

    # -- processes and signals ------------------------------------------------------------

    def _start_forkserver(self) -> None:
        """Start the fork server now, so its imports (the SDK) don't delay the first task."""
        mp_context()
        from multiprocessing import forkserver

        forkserver.ensure_running()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled on the main thread (tests may run work() elsewhere)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if not self.stopping.is_set():
            self.stopping.set()
            # An in-flight long poll is allowed to finish (at most --wait-seconds): what it
            # returns is handed straight back, rather than left invisible for the queue's
            # whole visibility timeout.
            log.info("%s: warm shutdown — finishing %d running task(s) and the current poll (<= %ds), taking no "
                     "new ones (again to stop now)", name, len(self._running), self.wait_seconds)
            return
        self.abandoned.set()
        running = list(self._running.values())
        for delivery in running:
            if delivery.child is not None:
                delivery.child.kill()
        log.warning("%s again: cold shutdown — killed %d task(s); SQS will redeliver their messages",
                    name, len(running))
        sys.stdout.flush()
        os._exit(128 + signum)


def work(*, concurrency: int = 2, burst: bool = False, queue_url: str | None = None,
         wait_seconds: int | None = None, retry_backoff: float = 5.0) -> int:
    """Run a worker until it is told to stop (or, with ``burst``, until the queue is
    empty and nothing is running). Returns the process exit status."""
    configure_logging()
    cfg = get_config()
    worker = Worker(concurrency=concurrency, burst=burst, queue_url=queue_url,
                    wait_seconds=cfg.wait_time_seconds if wait_seconds is None else wait_seconds,
                    retry_backoff=retry_backoff)
    return worker.work()
