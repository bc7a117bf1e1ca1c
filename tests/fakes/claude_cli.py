"""A fake Claude Code CLI speaking the SDK's stream-json protocol over stdin/stdout, for
the edge cases the real CLI can't be made to produce on demand: a hang, a crash, a huge
line, a garbled line, message types from a newer CLI. Only the process edge is faked:
the real SDK drives it (``CLAUDE_CLI_PATH`` points the worker at it).

Its behaviour comes from ``FAKE_CLI_MODE``:

- ``ok``: answer "fake answer" (after an unknown ``system``-less message type, which a
  newer CLI might send);
- ``hang``: after the prompt, start a child that sleeps and send nothing more (its pid
  goes to ``FAKE_CLI_PIDFILE``, when set);
- ``crash``: write to stderr and exit 3 mid-session;
- ``huge``: answer with one ``FAKE_CLI_LINE_BYTES`` (default 2 MB) line;
- ``garbled``: write a line that starts like JSON and isn't;
- ``slow``: like ``ok``, but first append ``start <pid>`` to ``FAKE_CLI_LOG``, wait a
  second, and append ``end <pid>`` (to see how many sessions overlap).

``install(path)`` writes it as an executable whose interpreter is this Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def install(path: Path) -> Path:
    path.write_text(f"#!{sys.executable}\n" + Path(__file__).read_text())
    path.chmod(0o755)
    return path


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _assistant(text: str) -> dict:
    return {"type": "assistant", "message": {"id": "msg_fake_cli_1", "type": "message", "role": "assistant",
                                             "model": "fake-model", "content": [{"type": "text", "text": text}]},
            "session_id": "fake-session", "parent_tool_use_id": None}


def _result(text: str) -> dict:
    return {"type": "result", "subtype": "success", "duration_ms": 5, "duration_api_ms": 1, "is_error": False,
            "num_turns": 1, "session_id": "fake-session", "total_cost_usd": 0.0042, "result": text,
            "usage": {"input_tokens": 11, "output_tokens": 7}}


def main() -> None:
    mode = os.environ.get("FAKE_CLI_MODE", "ok")
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("type") == "control_request":
            _send({"type": "control_response",
                   "response": {"subtype": "success", "request_id": message["request_id"], "response": {}}})
            continue
        if message.get("type") != "user":
            continue
        if mode == "hang":
            sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)  # as the CLI starts tools
            if pidfile := os.environ.get("FAKE_CLI_PIDFILE"):
                Path(pidfile).write_text(str(sleeper.pid))
            time.sleep(600)
        elif mode == "crash":
            sys.stderr.write("fake CLI: segmentation fault (core dumped)\n")
            sys.stderr.flush()
            os._exit(3)
        elif mode == "huge":
            size = int(os.environ.get("FAKE_CLI_LINE_BYTES", str(2 * 1024 * 1024)))
            _send(_assistant("x" * size))
        elif mode == "garbled":
            sys.stdout.write('{"type": "assistant", "message": {oops\n')
            sys.stdout.flush()
        else:
            if mode == "slow":
                with open(os.environ["FAKE_CLI_LOG"], "a") as log:
                    log.write(f"start {os.getpid()}\n")
                time.sleep(1)
                with open(os.environ["FAKE_CLI_LOG"], "a") as log:
                    log.write(f"end {os.getpid()}\n")
            _send({"type": "brand_new_kind_of_message", "detail": {"from": "a newer CLI"}})
            _send(_assistant("fake answer"))
            _send(_result("fake answer"))
        time.sleep(0.2)
        return


if __name__ == "__main__":
    main()
