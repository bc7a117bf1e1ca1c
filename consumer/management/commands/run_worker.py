"""``python manage.py run_worker``: parse options, call ``consumer.worker.work``."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


def _default_concurrency() -> int:
    raw = os.environ.get("WORKER_CONCURRENCY", "")
    try:
        return int(raw) if raw else 2
    except ValueError:
        raise CommandError(f"WORKER_CONCURRENCY must be an integer, got {raw!r}") from None


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else None
    except ValueError:
        raise CommandError(f"{name} must be an integer, got {raw!r}") from None


class Command(BaseCommand):
    help = (
        "Run a task worker: long-poll the SQS task queue and run each task (agent or command) in a "
        "child process, publishing Task Started / Heartbeat / Completed / Failed events. "
        "SIGTERM or Ctrl-C once: finish running tasks and exit; twice: kill them and exit now "
        "(SQS redelivers their messages). Settings come from the environment (SQS_QUEUE_URL, "
        "WAIT_TIME_SECONDS, VISIBILITY_EXTENSION_INTERVAL, CLAUDE_MODEL, ANTHROPIC_API_KEY, ...)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency", type=int, default=None, metavar="N",
            help="tasks to run at once, each in its own process (default: $WORKER_CONCURRENCY, else 2)",
        )
        parser.add_argument(
            "--burst", action="store_true",
            help="exit once the queue is empty and no task is running (scripts and tests)",
        )
        parser.add_argument(
            "--queue-url", default=None, metavar="URL",
            help="SQS queue to consume (default: $SQS_QUEUE_URL or $TASK_QUEUE_URL)",
        )
        parser.add_argument(
            "--wait-seconds", type=int, default=None, metavar="S",
            help="long-poll wait per receive, 0-20 (default: $WAIT_TIME_SECONDS, else 20)",
        )
        parser.add_argument(
            "--retry-backoff", type=float, default=5.0, metavar="S",
            help="base of the retry backoff: a retryable failure of attempt n is redelivered after about "
                 "S * 2**n seconds, at most 900 (default: 5)",
        )
        # PM2's max_memory_restart / cron_restart, for any process manager: consumer/limits.py
        parser.add_argument(
            "--max-memory", type=int, default=_env_int("WORKER_MAX_MEMORY_MB"), metavar="MB",
            help="past MB of resident memory (the worker and its tasks), finish running tasks and exit so "
                 "that the process manager restarts it (default: $WORKER_MAX_MEMORY_MB, else no cap)",
        )
        parser.add_argument(
            "--max-lifetime", type=int, default=_env_int("WORKER_MAX_LIFETIME"), metavar="S",
            help="after S seconds, finish running tasks and exit, for a daily restart e.g. 86400 "
                 "(default: $WORKER_MAX_LIFETIME, else none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from consumer.worker import work

        concurrency = options["concurrency"] if options["concurrency"] is not None else _default_concurrency()
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        if options["wait_seconds"] is not None and not 0 <= options["wait_seconds"] <= 20:
            raise CommandError("--wait-seconds must be between 0 and 20")
        if options["retry_backoff"] < 0:
            raise CommandError("--retry-backoff must not be negative")
        if (options["max_memory"] or 0) < 0 or (options["max_lifetime"] or 0) < 0:
            raise CommandError("--max-memory and --max-lifetime must not be negative")
        from consumer.limits import start_watchdog

        start_watchdog(max_memory_mb=options["max_memory"], max_lifetime_seconds=options["max_lifetime"])
        status = work(
            concurrency=concurrency,
            burst=options["burst"],
            queue_url=options["queue_url"],
            wait_seconds=options["wait_seconds"],
            retry_backoff=options["retry_backoff"],
        )
        if status:
            raise SystemExit(status)
