"""A fake Anthropic Messages API on 127.0.0.1, for running the REAL Claude Code CLI
(bundled with claude-agent-sdk) offline: point ``ANTHROPIC_BASE_URL`` at it.

It answers ``POST /v1/messages`` with a standard SSE stream built from a scripted list
of turns (``text(...)``, ``tool_use(...)``, ``error(...)``), one turn per request, and
records every request so tests can assert what the CLI sent (prompt, system prompt,
tools, model). Usage figures are non-zero so the CLI reports a cost.

Requests that are not part of the agent's conversation (the CLI sometimes asks a
small model for a title or a quota check) are recognised by having no ``tools`` and
are answered with a short text without consuming the script.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {"input_tokens": 120, "output_tokens": 30}


@dataclass(frozen=True)
class Turn:
    kind: str  # "text" | "tool_use" | "error"
    text: str = ""
    tool_name: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    error_type: str = ""
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))


def text(value: str, **usage: int) -> Turn:
    return Turn(kind="text", text=value, usage={**DEFAULT_USAGE, **usage})


def tool_use(name: str, tool_input: dict[str, Any], *, text_before: str = "", **usage: int) -> Turn:
    return Turn(kind="tool_use", tool_name=name, tool_input=tool_input, text=text_before,
                usage={**DEFAULT_USAGE, **usage})


def error(status: int, error_type: str, message: str) -> Turn:
    return Turn(kind="error", status=status, error_type=error_type, text=message)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def is_conversation(self) -> bool:
        return bool(self.body.get("tools"))

    def user_texts(self) -> list[str]:
        """Every text block the user side sent (the prompt, tool results as text)."""
        texts: list[str] = []
        for message in self.body.get("messages", []):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
                continue
            for block in content or []:
                if block.get("type") == "text":
                    texts.append(block.get("text", ""))
        return texts

    def system_text(self) -> str:
        system = self.body.get("system")
        if isinstance(system, str):
            return system
        return "\n".join(block.get("text", "") for block in system or [] if isinstance(block, dict))


class FakeAnthropicAPI:
    """``with FakeAnthropicAPI([text("done")]) as api: env["ANTHROPIC_BASE_URL"] = api.url``"""

    def __init__(self, turns: list[Turn] | None = None, *, model: str = "claude-sonnet-4-5") -> None:
        self.turns = list(turns or [])
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def conversation(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_conversation]

    def start(self) -> FakeAnthropicAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropicAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ----------------------------------------------------------

    def _next_turn(self, request: RecordedRequest) -> Turn:
        with self._lock:
            self.requests.append(request)
            if not request.is_conversation:
                return text("ok", input_tokens=10, output_tokens=2)
            if not self.turns:
                return text("(script exhausted)")
            return self.turns.pop(0)

    def _events(self, turn: Turn, model: str) -> list[tuple[str, dict[str, Any]]]:
        message_id = f"msg_fake_{next(self._ids):04d}"
        usage = turn.usage
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
        ]
        index = 0
        if turn.text:
            events += [
                ("content_block_start", {"type": "content_block_start", "index": index,
                                         "content_block": {"type": "text", "text": ""}}),
                ("content_block_delta", {"type": "content_block_delta", "index": index,
                                         "delta": {"type": "text_delta", "text": turn.text}}),
                ("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
            index += 1
        if turn.kind == "tool_use":
            events += [
                ("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": f"toolu_fake_{next(self._ids):04d}", "name": turn.tool_name,
                    "input": {}}}),
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(turn.tool_input)}}),
                ("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
        stop_reason = "tool_use" if turn.kind == "tool_use" else "end_turn"
        events += [
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                               "usage": {"output_tokens": usage["output_tokens"]}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                path = self.path.split("?", 1)[0]
                if path.endswith("/count_tokens"):
                    self._json(200, {"input_tokens": 100})
                    return
                if not path.endswith("/v1/messages"):
                    self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
                    return
                request = RecordedRequest(path=self.path, headers=dict(self.headers), body=body)
                turn = api._next_turn(request)
                if turn.kind == "error":
                    self._json(turn.status, {"type": "error", "error": {"type": turn.error_type, "message": turn.text}})
                    return
                model = body.get("model") or api.model
                if not body.get("stream"):
                    self._json(200, _non_streaming(api._events(turn, model)))
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                for name, data in api._events(turn, model):
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _non_streaming(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The same turn as one JSON message (for callers that don't stream)."""
    message = dict(events[0][1]["message"])
    content: list[dict[str, Any]] = []
    for name, data in events[1:]:
        if name == "content_block_start":
            content.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                content[-1]["text"] += delta["text"]
            else:
                content[-1]["input"] = json.loads(delta["partial_json"])
        elif name == "message_delta":
            message["stop_reason"] = data["delta"]["stop_reason"]
            message["usage"] = {**message["usage"], **data["usage"]}
    message["content"] = content
    return message
