"""A fake Slack Web API on 127.0.0.1, for driving the REAL ``slack_sdk.WebClient`` offline:
point ``SLACK_API_BASE_URL`` (or ``WebClient(base_url=...)``) at ``url``.

It answers ``POST /api/chat.postMessage`` like Slack does (``{"ok": true, "ts": ...}``),
records every request (token, channel, text, blocks) so tests can assert on what was
posted, and can be told to fail: ``fail_with("channel_not_found")`` answers ``ok: false``
(HTTP 200, as Slack does), ``fail_with(status=500)`` answers a non-JSON 5xx.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Posted:
    method: str
    token: str
    body: dict[str, Any]

    @property
    def channel(self) -> str:
        return self.body.get("channel", "")

    @property
    def text(self) -> str:
        return self.body.get("text", "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.body.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    def everything(self) -> str:
        """The text and every block's text, for "does the message mention X" assertions."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)


class FakeSlack:
    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self._failure: tuple[int, str] | None = None
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                method = self.path.rsplit("/", 1)[-1]
                with fake._lock:
                    fake.posted.append(Posted(method, token, body))
                    failure = fake._failure
                if failure and failure[0] != 200:
                    self._answer(failure[0], b"<html>upstream trouble</html>", "text/html")
                    return
                if failure:
                    payload: dict[str, Any] = {"ok": False, "error": failure[1]}
                elif method == "chat.postMessage":
                    payload = {"ok": True, "channel": body.get("channel"), "ts": f"1700000000.{next(fake._ts):06d}",
                               "message": {"text": body.get("text", "")}}
                else:
                    payload = {"ok": False, "error": "unknown_method"}
                self._answer(200, json.dumps(payload).encode(), "application/json; charset=utf-8")

            def _answer(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The Web API's base URL (what ``WebClient(base_url=...)`` takes)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_with(self, error: str = "", *, status: int = 200) -> None:
        self._failure = (status, error)

    def recover(self) -> None:
        self._failure = None

    def messages(self, *, mentioning: str | None = None) -> list[Posted]:
        """Successful-looking chat.postMessage calls (optionally only those naming something)."""
        with self._lock:
            found = [p for p in self.posted if p.method == "chat.postMessage"]
        return [p for p in found if mentioning is None or mentioning in p.everything()]
