"""A task's process tree, from /proc: found by parentage, not by process group.

The Claude Code CLI starts each Bash tool call in a session of its own (``setsid``), so
a ``killpg`` of the task's group misses exactly the processes an agent started. The
task process makes itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): whatever its
descendants orphan is re-parented to it rather than to init, so walking its children
finds every process the task started, however they detached.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Linux only; elsewhere the process group is all the worker can reach."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> Iterator[int]:
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                yield from (int(c) for c in (task / "children").read_text().split())
    except OSError:  # gone meanwhile, or no /proc (not Linux)
        return


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, parents before children."""
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in _children(pending.pop()):
            if child not in found:
                found.append(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie is dead: it only waits for its parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def end_tree(root: int, *, grace: float, include_root: bool = True) -> None:
    """SIGTERM ``root``'s descendants (and ``root``), wait up to ``grace`` seconds for them
    to go, then SIGKILL whatever is left. Descendants are signalled before the root: while
    the root (the subreaper) lives, an orphan is still found below it."""
    if grace > 0:
        _signal_all(descendants(root), signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in descendants(root)):
            time.sleep(0.05)
    for _ in range(10):  # a process may fork while it is being killed: look again
        remaining = [p for p in descendants(root) if alive(p)]
        if not remaining:
            break
        _signal_all(remaining, signal.SIGKILL)
        time.sleep(0.02)
    if include_root:
        _signal_all([root], signal.SIGKILL)
