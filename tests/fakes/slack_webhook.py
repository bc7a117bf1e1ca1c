"""A fake Slack incoming webhook on 127.0.0.1, for driving the REAL
``slack_sdk.webhook.WebhookClient`` offline: point ``SLACK_WEBHOOK_URL`` at ``url``.

It answers a POST to its path like Slack does (``200 ok``), records every payload, and
can be told to fail (``status=500``). The path looks like a real webhook's secret part,
so tests can check that it never shows up in a log line.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET_PATH = "/services/T0FAKE/B0FAKE/not-a-real-webhook-secret-4f2a"


class FakeWebhook:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.status = 200
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{SECRET_PATH}"

    @property
    def texts(self) -> list[str]:
        with self._lock:
            return [p.get("text", "") for p in self.posted]

    def wait_for(self, count: int, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.texts) >= count:
                return self.texts
            time.sleep(0.1)
        raise AssertionError(f"expected {count} webhook post(s), got {self.texts}")

    def start(self) -> FakeWebhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != SECRET_PATH:
                    status, answer = 404, b"no_service"
                elif fake.status != 200:
                    status, answer = fake.status, b"internal_error"
                else:
                    with fake._lock:
                        fake.posted.append(json.loads(body))
                    status, answer = 200, b"ok"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler
