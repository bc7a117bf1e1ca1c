"""``command`` task definitions: run an argv template (no shell) in the task's working
directory. stdout is the output; exit 0 succeeds, 75 (EX_TEMPFAIL) asks for a retry,
anything else fails for good with the exit code and the tail of stderr."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

from jobmanager.config import BASE_DIR
from jobmanager.domain.errors import TaskExecutionError
from jobmanager.domain.redaction import SECRET_ENV_VARS, redact
from jobmanager.domain.templates import render

from ..task import TaskResult, TaskRun

EX_TEMPFAIL = 75
STDERR_TAIL_CHARS = 2000
MAX_OUTPUT_BYTES = 64 * 1024 * 1024  # the output travels through a pipe and to S3 in one piece



def render_argv(run: TaskRun) -> list[str]:
    if not run.definition.command:
        raise TaskExecutionError(
            f"task definition '{run.definition.name}' is a command definition without a command",
            retryable=False, kind="definition",
        )
    return [render(element, task_input=run.task_input, upstream=run.upstream) for element in run.definition.command]


# What a command inherits from the worker: the basics a program needs, nothing else.
_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "VIRTUAL_ENV")
_INHERITED_PREFIXES = ("LC_", "PYTHON")


def command_environment(run: TaskRun) -> dict[str, str]:
    # A command is user-supplied code: the worker's credentials (AWS, Slack, Claude) and
    # its configuration (queue, tables, bucket) are not its business. An allowlist, so a
    # secret under a name nobody thought of stays out too.
    env = {k: v for k, v in os.environ.items()
           if (k in _INHERITED or k.startswith(_INHERITED_PREFIXES)) and k not in SECRET_ENV_VARS}
    # "python" in an argv means the worker's own interpreter (the project's venv); not
    # resolved through symlinks, which would step out of the venv.
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p)
    # ... and the project's own modules are importable from the task's working dir
    # (``python -m examples.tools.inventory``), as they are for the worker.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BASE_DIR), env.get("PYTHONPATH", "")) if p)
    env.update(
        JOB_ID=run.job_id,
        TASK_ID=run.task_id,
        REQUEST_ID=run.request_id,
        ATTEMPT=str(run.attempt),
        JOBMANAGER_CONTEXT=str(run.context_file),
    )
    return env


def write_context(run: TaskRun) -> None:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    run.context_file.write_text(json.dumps({"input": run.task_input, "upstream": run.upstream}, ensure_ascii=False))


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            stream.seek(max(0, path.stat().st_size - STDERR_TAIL_CHARS))
            text = stream.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    return redact(text)


def run_command(run: TaskRun, *, timeout: float | None = None) -> TaskResult:
    """Run the definition's argv. In the worker, ``timeout`` is left to the parent,
    which kills the child's whole process group; in-process callers may pass one."""
    argv = render_argv(run)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    write_context(run)
    try:
        # Streams go to files, not pipes: no deadlock, no output held twice in memory.
        with run.stdout_file.open("wb") as out, run.stderr_file.open("wb") as err:
            completed = subprocess.run(
                argv, cwd=run.work_dir, env=command_environment(run), stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, timeout=timeout, check=False,
            )
    except FileNotFoundError as exc:
        raise TaskExecutionError(f"command not found: {argv[0]!r} ({exc.strerror})", retryable=False,
                                 kind="command_not_found") from None
    except PermissionError as exc:
        raise TaskExecutionError(f"command not executable: {argv[0]!r} ({exc.strerror})", retryable=False,
                                 kind="command_not_found") from None
    except OSError as exc:
        if exc.errno != errno.E2BIG:
            raise
        longest = max(len(arg.encode()) for arg in argv)
        raise TaskExecutionError(
            f"the command line is too long for the OS ({exc.strerror}; its longest argument is {longest} bytes, "
            f"Linux takes at most 131072 per argument): read large inputs from the $JOBMANAGER_CONTEXT file instead",
            retryable=False, kind="argv_too_long") from None
    code = completed.returncode
    if code == 0:
        size = run.stdout_file.stat().st_size
        if size > MAX_OUTPUT_BYTES:
            raise TaskExecutionError(f"command output is {size} bytes, over the {MAX_OUTPUT_BYTES}-byte limit: "
                                     "write large results to files (they become artifacts)",
                                     retryable=False, kind="output_too_large")
        return TaskResult(output=run.stdout_file.read_bytes().decode("utf-8", errors="replace"), exit_code=0)
    tail = _tail(run.stderr_file)
    suffix = f"; stderr: {tail}" if tail else ""
    details = {"exitCode": code}
    if code == EX_TEMPFAIL:
        raise TaskExecutionError(f"command exited with code {code} (EX_TEMPFAIL: try again){suffix}",
                                 retryable=True, kind="tempfail", details=details)
    if code < 0:
        # Killed by a signal (the OOM killer, say): not the task's verdict on itself.
        raise TaskExecutionError(f"command was killed by signal {-code}{suffix}", retryable=True, kind="signal",
                                 details=details)
    raise TaskExecutionError(f"command exited with code {code}{suffix}", retryable=False, kind="exit_code",
                             details=details)
