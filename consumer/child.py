"""The child process a task runs in: isolation, a hard kill on timeout, bounded memory.

Children are forked from a multiprocessing "forkserver" that has already imported the
executors (and the Claude Agent SDK), so starting one costs a fork, not a fresh
interpreter importing Django. The child becomes the leader of its own session and
process group (``os.setsid``), so a Ctrl-C in the worker's terminal doesn't reach
running tasks (warm shutdown), and a child subreaper, so that the worker can end it *and
everything it started* — a command's subprocesses, the Claude Code CLI and the tool
processes the CLI starts in sessions of their own (see ``processes``).

The child talks back over a one-way pipe: ``("progress", {...})`` any number of times,
then exactly one ``("ok", TaskResult)`` or ``("error", {message, kind, retryable, details})``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

from .errors import classify
from .executors import execute
from .processes import become_subreaper, end_tree
from .task import TaskRun

PRELOAD = ["consumer.child", "consumer.executors.command", "consumer.executors.agent"]

# Secrets a task never needs in its environment. Claude's credentials stay: the agent
# executor hands them to the CLI (and the command executor drops them itself).
_WORKER_ONLY_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL",
                        "DJANGO_SECRET_KEY")

_context: ForkServerContext | None = None


def mp_context() -> ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, ForkServerContext)
        ctx.set_forkserver_preload(PRELOAD)
        _context = ctx
    return _context


def child_main(run: TaskRun, conn: Connection) -> None:
    os.setsid()
    become_subreaper()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for name in _WORKER_ONLY_SECRETS:
        os.environ.pop(name, None)
    try:
        result = execute(run, on_progress=lambda data: conn.send(("progress", data)))
        conn.send(("ok", result))
    except BaseException as exc:  # everything becomes a classified, redacted error
        error = classify(exc)
        conn.send(("error", {"message": error.message, "kind": error.kind, "retryable": error.retryable,
                             "details": _plain(error.details)}))
    finally:
        conn.close()
        # Nothing a task started outlives it (a tool's background job, a detached shell).
        end_tree(os.getpid(), grace=0, include_root=False)


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if isinstance(v, str | int | float | bool) or v is None}


class Child:
    """A started child process, from the worker's side."""

    def __init__(self, run: TaskRun) -> None:
        ctx = mp_context()
        self.conn, writer = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=child_main, args=(run, writer), name=f"task:{run.job_id}/{run.task_id}")
        self.process.start()
        writer.close()  # ours is closed so a dead child reads as EOF, not a hang

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def kill(self, *, grace: float = 0) -> None:
        """End the child and every process below it: SIGTERM, up to ``grace`` seconds to
        exit (the CLI can stop its tools), then SIGKILL."""
        pid = self.process.pid
        if pid is None:
            return
        if self.process.exitcode is None:  # once reaped, its pid may be someone else's
            end_tree(pid, grace=grace)
        # What shares its group without being below it (a double fork before the subreaper).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, AttributeError, ValueError):
            self.process.kill()

    def close(self) -> None:
        """Reap the child, then make sure nothing it started outlives it."""
        self.process.join(timeout=5)
        if self.process.exitcode is None:
            self.kill()
            self.process.join(timeout=5)
        self.kill()  # stray grandchildren (a command's background job) die with the group
        self.conn.close()
        with contextlib.suppress(ValueError):
            self.process.close()
