"""The app mounted under a path prefix, as API Gateway serves a stage (``/prod/...``):
the prefix moves from PATH_INFO to SCRIPT_NAME before Django sees the request, which
is what Zappa's handler does. Used by the view tests (one WSGI call) and by the
browser tests (a second live server)."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.contrib.staticfiles.views import serve
from django.core.handlers.wsgi import WSGIHandler
from django.urls import get_script_prefix, set_script_prefix

PREFIX = "/prod"
WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]


def mount_under(app: WSGIApp, prefix: str = PREFIX) -> WSGIApp:
    def mounted(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != prefix and not path.startswith(prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"only {prefix}/... is served here".encode()]
        environ = {**environ, "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix,
                   "PATH_INFO": path[len(prefix):] or "/"}
        return app(environ, start_response)
    return mounted


class PrefixedStaticFiles(StaticFilesHandler):
    """runserver's static files behind a prefix (production uses WhiteNoise): the file
    is named by the path below the prefix."""

    def serve(self, request):
        return serve(request, self.file_path(request.path_info), insecure=True)


def prefixed_static_handler(app: WSGIApp) -> WSGIApp:
    return mount_under(PrefixedStaticFiles(app))


def call(path: str, *, method: str = "GET", cookies: dict[str, str] | None = None,
         headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[int, dict[str, str], str]:
    """One request through Django's WSGI handler mounted under the prefix: (status, headers, body)."""
    raw_path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": raw_path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in (cookies or {}).items()),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    before = get_script_prefix()
    try:
        chunks = mount_under(WSGIHandler())(environ, start_response)
        text = b"".join(chunks).decode()
        getattr(chunks, "close", lambda: None)()
    finally:  # the handler sets this thread's prefix; the test client (later) never resets it
        set_script_prefix(before)
    return seen["status"], seen["headers"], text
