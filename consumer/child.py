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
The worker holds the pipe's only read end, so the child also learns from it that the
worker is gone (SIGKILL, a crash, a stop that could not wait): it then ends everything the
task started and exits. SQS hands the task to another worker as its next attempt, and
the dead worker's run must not go on beside it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import threading
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

# Once the worker is gone: SIGTERM to the task's processes, this long to stop, then SIGKILL.
WORKER_GONE_GRACE = 2.0

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
    # A copy of the write end of its own: closing ``conn`` at the end must not look like a lost worker.
    threading.Thread(target=_end_with_the_worker, args=(os.dup(conn.fileno()),), name="worker-watch",
                     daemon=True).start()
    try:
        try:
            message: tuple[str, Any] = ("ok", execute(run, on_progress=lambda data: conn.send(("progress", data))))
        except BaseException as exc:  # everything becomes a classified, redacted error
            error = classify(exc)
            message = ("error", {"message": error.message, "kind": error.kind, "retryable": error.retryable,
                                 "details": _plain(error.details)})
        conn.send(message)
    except OSError:  # the worker is gone (a broken pipe): nobody to tell, and the watch ends this process
        pass
    finally:
        conn.close()
        # Nothing a task started outlives it (a tool's background job, a detached shell).
        end_tree(os.getpid(), grace=0, include_root=False)


def _end_with_the_worker(fd: int) -> None:
    """Wait until the pipe has no reader (Linux reports POLLERR on the write end once the
    worker's end is closed: the worker is gone), then end the task's tree and this process."""
    poller = select.poll()
    poller.register(fd, select.POLLERR)
    while not poller.poll():
        pass
    end_tree(os.getpid(), grace=WORKER_GONE_GRACE, include_root=False)
    os._exit(1)


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
