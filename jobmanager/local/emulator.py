"""Embedded AWS emulator: moto's server app on loopback, made as atomic as AWS.

moto's server answers requests on many threads, but its backends are not
thread-safe: two concurrent conditional UpdateItems can both pass their condition
(a counter ends at 401 instead of 400), and two concurrent ReceiveMessage calls can
hand out the same message within its visibility timeout. AWS never does either, so
code that is correct on AWS would misbehave locally, and concurrency tests would
prove nothing. ``AtomicMiddleware`` therefore serializes what matters:

* every DynamoDB request runs under one lock (AWS: every single-item write is atomic);
* an S3 conditional create (``PutObject`` with ``If-None-Match``) runs under a lock too
  (S3: exactly one of concurrent creates wins);
* every SQS request runs under another lock, and so does EventBridge ``PutEvents``
  (moto delivers to SQS targets inside that request). ``ReceiveMessage`` is passed to
  moto with ``WaitTimeSeconds=0``; the long poll happens here, *outside* any lock,
  waiting on a Condition notified whenever messages may have appeared. A long poll whose
  client has gone (a worker killed mid-poll) ends without taking messages: otherwise the
  next message would be handed to a closed socket and stay invisible for its whole
  visibility timeout.

Long polls are woken per queue: a send to one queue re-checks only that queue's
pollers (a ``PutEvents``, which may feed any queue, wakes them all), so a dozen idle
pollers don't each re-run a receive on every message anywhere.

moto's SQS computes every queue attribute — counting all messages three times — to
read one (``Queue.attributes``): on each send, and for each message a receive hands
out, so receives were O(n²) in the queue's depth. ``_patch_sqs`` computes an attribute
only when it is read.

moto's ``TransactWriteItems`` deep-copies every table it touches, for a rollback, on
every call: time and memory O(table), so a big job slowed the emulator to a crawl and
fragmented its heap to gigabytes. ``_patch_transactions`` makes the rollback copy just
the items the transaction names (safe: DynamoDB requests run one at a time).

It can also inject one fault AWS produces and moto can't: a partial ``PutEvents``
failure (HTTP 200, some entries with an ``ErrorCode``). ``POST /_emulator/faults`` with
``{"putEventsEntryFailures": n}`` fails the next n entries put on any bus
(``ThrottlingException``, as EventBridge does past its quota); the fault-injection tests
and the soak use it through real HTTP, like every other call.

moto keeps its state in module globals: every emulator started in one process shares
it. Nothing survives a restart (moto has no persistence).

Run in the foreground: ``python -m jobmanager.local.emulator --port 4566``.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import re
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import MockValidationException, MultipleTransactionsException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Item, Table
from moto.core.responses import ActionResult
from moto.core.utils import camelcase_to_underscores, unix_time, unix_time_millis
from moto.sqs.models import Queue, SQSBackend, sqs_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import get_input_stream

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Response = tuple[str, list[tuple[str, str]], bytes]  # status, headers, body

FAULTS_PATH = "/_emulator/faults"
STATS_PATH = "/_emulator/stats"

# "Credential=AKID/20261203/eu-west-1/sqs/aws4_request" -> "sqs"
_SIGNING_SERVICE = re.compile(r"Credential=[^/]*/\d+/[^/]*/([^/]+)/")


class AtomicMiddleware:
    """WSGI middleware serializing moto's DynamoDB and SQS backends (see module doc)."""

    # An idle long poll with nothing in flight on its queue still re-checks this often,
    # to notice a client that went away.
    idle_recheck = 2.0

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.dynamodb_lock = threading.Lock()
        self.sqs_lock = threading.Lock()
        self.sqs_changed = threading.Condition()
        self.queue_generations: dict[str, int] = {}  # by queue name, bumped when it changes: no lost wake-ups
        self.s3_conditional_lock = threading.Lock()
        self.faults_lock = threading.Lock()
        self.put_events_entry_failures = 0  # injected: the next n entries fail
        self.stats_lock = threading.Lock()
        self.stats: dict[str, list[float]] = {}  # "dynamodb.PutItem" -> [moto calls, CPU seconds in moto]

    # -- injected faults -----------------------------------------------------

    def _set_faults(self, environ: Environ) -> Response:
        try:
            wanted = json.loads(_read_body(environ) or b"{}")
            failures = int(wanted.get("putEventsEntryFailures", 0))
        except (ValueError, TypeError, AttributeError):
            return "400 Bad Request", [("Content-Type", "application/json")], b'{"message": "expected JSON"}'
        with self.faults_lock:
            self.put_events_entry_failures = max(0, failures)
        return "200 OK", [("Content-Type", "application/json")], json.dumps({"putEventsEntryFailures": failures}).encode()

    def _put_events(self, environ: Environ) -> Response:
        """PutEvents; with injected failures pending, the first entries fail (and are not
        delivered) and the rest go to moto: one response, in the entries' order."""
        with self.faults_lock:
            pending = self.put_events_entry_failures
        if not pending:
            return self._sqs_mutation(environ)
        request = json.loads(_read_body(environ) or b"{}")
        entries = request.get("Entries", [])
        with self.faults_lock:
            failing = min(self.put_events_entry_failures, len(entries))
            self.put_events_entry_failures -= failing
        failed = [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded (injected by the emulator)"}]
        if failing == len(entries):
            status, headers = "200 OK", [("Content-Type", "application/x-amz-json-1.1")]
            results: list[dict[str, Any]] = []
        else:
            body = json.dumps({**request, "Entries": entries[failing:]}).encode()
            status, headers, raw = self._sqs_mutation(_with_body(environ, body))
            results = json.loads(raw).get("Entries", [])
        results = failed * failing + results
        payload = {"FailedEntryCount": sum(1 for r in results if r.get("ErrorCode")), "Entries": results}
        body = json.dumps(payload).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        return status, headers, body

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            with self.dynamodb_lock:
                return _reply(self._call(environ), start_response)
        if target == "AWSEvents.PutEvents":
            return _reply(self._put_events(environ), start_response)
        if environ.get("PATH_INFO") == FAULTS_PATH:
            return _reply(self._set_faults(environ), start_response)
        if environ.get("PATH_INFO") == STATS_PATH:
            with self.stats_lock:
                body = json.dumps({k: {"calls": int(n), "cpuSeconds": round(t, 6)} for k, (n, t) in self.stats.items()})
            return _reply(("200 OK", [("Content-Type", "application/json")], body.encode()), start_response)
        if environ.get("HTTP_IF_NONE_MATCH") and environ.get("REQUEST_METHOD") == "PUT":
            # S3 conditional create: check-and-put must be one step, as in S3.
            with self.s3_conditional_lock:
                return _reply(self._call(environ), start_response)
        if target.startswith("AmazonSQS."):
            return _reply(self._sqs(environ, target.removeprefix("AmazonSQS."), _JSON), start_response)
        if self._is_sqs_query(environ):
            body = _read_body(environ)
            action = dict(parse_qsl(body.decode())).get("Action", "")
            return _reply(self._sqs(environ, action, _QUERY), start_response)
        return _reply(self._call(environ), start_response)

    # -- SQS ---------------------------------------------------------------

    def _sqs(self, environ: Environ, action: str, protocol: _Protocol) -> Response:
        if action == "ReceiveMessage":
            return self._receive(environ, protocol)
        if action.startswith(("Get", "List", "Delete")):  # (a deleted message frees nothing to receive)
            with self.sqs_lock:
                return self._call(environ)
        return self._sqs_mutation(environ, _queue_name(protocol.parse(_read_body(environ))))

    def _sqs_mutation(self, environ: Environ, queue: str | None = None) -> Response:
        """Send, delete, change visibility, PutEvents...: atomic, then wake the pollers of
        the queues it changed: the one it names, else (PutEvents) those that grew."""
        with self.sqs_lock:
            before = None if queue else _queue_depths()
            response = self._call(environ)
            if before is not None:
                after = _queue_depths()
                changed = [name for name, depth in after.items() if depth != before.get(name)]
            else:
                changed = [queue]
        if changed:
            with self.sqs_changed:
                for name in changed:
                    self.queue_generations[name] = self.queue_generations.get(name, 0) + 1
                self.sqs_changed.notify_all()
        return response

    def _receive(self, environ: Environ, protocol: _Protocol) -> Response:
        params = protocol.parse(_read_body(environ))
        queue = _queue_name(params) or ""
        if "WaitTimeSeconds" not in params:  # SQS falls back to the queue's setting
            wait = self._queue_wait_time(environ, str(params.get("QueueUrl", "")))
        elif str(params["WaitTimeSeconds"]).lstrip("-").isdigit():
            wait = int(params["WaitTimeSeconds"])
        else:
            wait = -1
        if not 0 <= wait <= 20:  # let moto report the invalid value
            with self.sqs_lock:
                return self._call(environ)
        params["WaitTimeSeconds"] = protocol.wait_value(0)
        no_wait = protocol.encode(params)

        deadline = time.monotonic() + wait
        response: Response | None = None
        while True:
            with self.sqs_changed:
                generation = self.queue_generations.get(queue, 0)
            if response is not None and _client_gone(environ):
                return response  # the previous, empty answer: nobody is left to read it
            with self.sqs_lock:  # one receive at a time: no message handed out twice
                # After the first try, moto is asked again only if a message can be had
                # now: a wake-up for another poller's message costs a glance, not a call.
                if response is None or _receivable_now(queue):
                    response = self._call(_with_body(environ, no_wait))  # a fresh input stream each time
                next_change = _seconds_until_receivable(queue)
            remaining = deadline - time.monotonic()
            if not response[0].startswith("200") or protocol.has_messages(response[2]) or remaining <= 0:
                return response
            # Sleep until the queue changes, or one of its messages comes out of its
            # visibility timeout or delay (nothing announces that), or the poll ends. The
            # wake-up is re-checked now and then: the client may have gone meanwhile.
            timeout = min(remaining, self.idle_recheck if next_change is None else max(0.01, next_change))
            with self.sqs_changed:  # wait_for() releases the condition's lock while waiting
                self.sqs_changed.wait_for(lambda: self.queue_generations.get(queue, 0) != generation,
                                          timeout=timeout)

    def _queue_wait_time(self, environ: Environ, queue_url: str) -> int:
        """The queue's ReceiveMessageWaitTimeSeconds, asked through moto's JSON API."""
        body = json.dumps({"QueueUrl": queue_url, "AttributeNames": ["ReceiveMessageWaitTimeSeconds"]})
        request = _with_body(environ, body.encode())
        request.update(
            HTTP_X_AMZ_TARGET="AmazonSQS.GetQueueAttributes",
            CONTENT_TYPE="application/x-amz-json-1.0",
            PATH_INFO="/",
            QUERY_STRING="",
        )
        with self.sqs_lock:
            status, _, out = self._call(request)
        if not status.startswith("200"):
            return 0  # moto will report the bad queue on the receive itself
        return int(json.loads(out).get("Attributes", {}).get("ReceiveMessageWaitTimeSeconds", 0))

    @staticmethod
    def _is_sqs_query(environ: Environ) -> bool:
        """An SQS call in the older query protocol (form-encoded POST, no X-Amz-Target)."""
        match = _SIGNING_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        return environ.get("REQUEST_METHOD") == "POST" and bool(match) and match.group(1) == "sqs"

    # -- plumbing ----------------------------------------------------------

    def _call(self, environ: Environ) -> Response:
        """Run moto to completion (inside the caller's lock) and buffer its response;
        count the call and the CPU it took (``GET /_emulator/stats``: the benchmarks'
        measure of what is the emulator's cost rather than the code's)."""
        started = time.thread_time()
        try:
            return self._run_moto(environ)
        finally:
            spent = time.thread_time() - started
            label = _operation(environ)
            with self.stats_lock:
                entry = self.stats.setdefault(label, [0, 0.0])
                entry[0] += 1
                entry[1] += spent

    def _run_moto(self, environ: Environ) -> Response:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], b"".join(chunks)


@dataclass(frozen=True)
class _Protocol:
    parse: Callable[[bytes], dict[str, Any]]
    encode: Callable[[dict[str, Any]], bytes]
    wait_value: Callable[[int], Any]
    has_messages: Callable[[bytes], bool]


# boto3 >= 1.34.9x speaks JSON to SQS; older clients use the form-encoded query protocol.
_JSON = _Protocol(
    parse=lambda body: json.loads(body or b"{}"),
    encode=lambda params: json.dumps(params).encode(),
    wait_value=int,
    has_messages=lambda body: bool(json.loads(body or b"{}").get("Messages")),
)
_QUERY = _Protocol(
    parse=lambda body: dict(parse_qsl(body.decode(), keep_blank_values=True)),
    encode=lambda params: urlencode(params).encode(),
    wait_value=str,
    has_messages=lambda body: b"<Message>" in body,
)


def _operation(environ: Environ) -> str:
    """``dynamodb.PutItem``, ``sqs.ReceiveMessage``, ``events.PutEvents``, ``s3.PUT``..."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, action = target.partition(".")
        service = {"AmazonSQS": "sqs", "AWSEvents": "events"}.get(prefix, prefix.split("_")[0].lower())
        return f"{service}.{action}"
    match = _SIGNING_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return f"{match.group(1) if match else 'other'}.{environ.get('REQUEST_METHOD', '')}"


def _queue_name(params: dict[str, Any]) -> str | None:
    """The queue a request names (the last part of its QueueUrl), if any."""
    url = params.get("QueueUrl")
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


def _moto_queues() -> Iterator[Queue]:
    for account in list(sqs_backends.values()):
        for backend in list(account.values()):
            yield from list(backend.queues.values())


def _queue_depths() -> dict[str, int]:
    """Messages held per queue name (cheap: a few queues, no message is looked at)."""
    return {queue.name: len(queue._messages) for queue in _moto_queues()}


def _receivable_now(name: str) -> bool:
    """Whether the queue holds a message a receive could return now."""
    queue = next((q for q in _moto_queues() if q.name == name), None)
    return queue is None or any(m.visible and not m.delayed for m in queue._messages)


def _seconds_until_receivable(name: str) -> float | None:
    """When the next of the queue's messages comes out of its visibility timeout or
    delay: None if it holds no message (only a request can change that)."""
    queue = next((q for q in _moto_queues() if q.name == name), None)
    if queue is None or not queue._messages:
        return None
    now = unix_time_millis()
    later = [t for t in (max(m.visible_at, m.delayed_until) for m in queue._messages) if t > now]
    return (min(later) - now) / 1000 if later else 0.25  # visible yet not handed out (a FIFO group): soon


def _read_body(environ: Environ) -> bytes:
    """Read the request body once and put it back so moto can read it again."""
    body = get_input_stream(environ).read()
    environ.update(_with_body(environ, body))
    return body


def _with_body(environ: Environ, body: bytes) -> Environ:
    copy = dict(environ)
    copy.pop("HTTP_TRANSFER_ENCODING", None)
    copy.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
    return copy


def _client_gone(environ: Environ) -> bool:
    """Whether the client closed its connection (a peek that reads EOF)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # connected, nothing sent: the client is still waiting
    except OSError:
        return True


def _reply(response: Response, start_response: StartResponse) -> list[bytes]:
    status, headers, body = response
    start_response(status, headers)
    return [body]


class _RequestHandler(MotoRequestHandler):
    """moto's handler (keeps underscored S3 metadata headers); quiet unless asked."""

    log_requests = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.log_requests:
            super().log_request(code, size)


class _VerboseRequestHandler(_RequestHandler):
    log_requests = True


class _TableCopy:
    """Stands in for ``copy`` inside moto's DynamoDB models: while a patched transaction
    runs, "copying" a whole table returns the table itself (its items are saved one by
    one instead). ``UpdateItem`` deep-copies the item it updates only to hand the old
    image to a DynamoDB stream; no table of ours has a stream, so that copy (a quarter of
    each update's cost) is skipped when the item's table has none."""

    def __init__(self) -> None:
        self.active = False

    def deepcopy(self, value: Any, memo: dict | None = None) -> Any:
        if self.active and isinstance(value, Table):
            return value
        if isinstance(value, Item) and not _any_stream():
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _any_stream() -> bool:
    """Whether any emulated DynamoDB table has a stream (then copies are made as moto does)."""
    return any(table.stream_shard is not None for account in list(dynamodb_models.dynamodb_backends.values())
               for backend in list(account.values()) for table in list(backend.tables.values()))


_table_copy = _TableCopy()
_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _item_key(backend: DynamoDBBackend, op: dict[str, Any]) -> tuple[Table, DynamoType, DynamoType | None]:
    table = backend.get_table(op["TableName"])
    key = op["Item"] if "Item" in op else op["Key"]
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return table, DynamoType(key[table.hash_key_attr]), range_value


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    try:
        targets = [_item_key(self, next(iter(entry.values()))) for entry in transact_items]
    except Exception:  # a malformed request: moto's own code reports it
        return _moto_transact_write_items(self, transact_items)
    saved = [(table, h, r, copy.deepcopy(table.get_item(h, r))) for table, h, r in targets]
    _table_copy.active = True
    try:
        return _moto_transact_write_items(self, transact_items)
    except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
        for table, h, r, before in reversed(saved):  # undo, in reverse: the first saved state wins
            if before is None:
                table.delete_item(h, r)
            elif r is not None:
                table.items[h][r] = before
            else:
                table.items[h] = before
        raise
    finally:
        _table_copy.active = False


def _patch_transactions() -> None:
    dynamodb_models.copy = _table_copy  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


class _QueueAttributes(Mapping):
    """``Queue.attributes`` as moto builds it, but each value computed when read: the
    approximate counts walk every message, and moto reads one attribute at a time."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        self.names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self.names:
            raise KeyError(name)
        if name == "Policy":
            return self.queue.policy
        if name == "RedrivePolicy":
            return json.dumps(self.queue.redrive_policy)
        value = getattr(self.queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _retention_ok(self: SQSBackend, queue_name: str, message: Any) -> bool:
    """moto's check, reading the one attribute it needs (not all of them)."""
    retention = int(self.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > unix_time()


def _patch_sqs() -> None:
    Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retention_ok  # type: ignore[method-assign]


_FAST_DYNAMODB_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
})
_moto_execute_result = ActionResult.execute_result


def _execute_result(self: ActionResult, context: Any) -> Any:
    """DynamoDB's item operations answer in plain JSON whose values moto already holds in
    wire form (``{"S": ...}``): dump them as they are. moto's generic serializer walks the
    API model for every attribute of every item, which was half of each call's cost."""
    if (context.service_model.service_name == "dynamodb" and context.operation_model.name in _FAST_DYNAMODB_OPERATIONS
            and isinstance(self.result, dict)):
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result, separators=(",", ":"))
    return _moto_execute_result(self, context)


def _cached_backend_for_host(original: Callable[[Any, str | None], Any]) -> Callable[[Any, str | None], Any]:
    cache: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in cache:
            cache[host] = original(self, host)
        return cache[host]

    return get_backend_for_host


def _patch_dispatch() -> None:
    """moto looks a request's backend up by listing its own package directory (a stat per
    service) on every request: remember the answer per host. And the fast DynamoDB path."""
    if not getattr(DomainDispatcherApplication.get_backend_for_host, "_cached", False):
        cached = _cached_backend_for_host(DomainDispatcherApplication.get_backend_for_host)
        cached._cached = True  # type: ignore[attr-defined]
        DomainDispatcherApplication.get_backend_for_host = cached  # type: ignore[method-assign]
    ActionResult.execute_result = _execute_result  # type: ignore[method-assign]


@dataclass
class Emulator:
    """A running emulator; ``stop()`` shuts it down (moto's state stays in the process)."""

    server: BaseWSGIServer
    thread: threading.Thread
    host: str

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False) -> Emulator:
    """Serve moto (wrapped in AtomicMiddleware) on host:port (0 = any free port) in a daemon thread."""
    # moto skips these template resources (they only matter in AWS): no warning on every deploy.
    warnings.filterwarnings(
        "ignore", message=r"Tried to parse AWS::(SQS::QueuePolicy|Lambda::Permission) ", category=UserWarning
    )
    _patch_transactions()
    _patch_sqs()
    _patch_dispatch()
    app = AtomicMiddleware(DomainDispatcherApplication(create_backend_app))
    handler = _VerboseRequestHandler if log_requests else _RequestHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, name="aws-emulator", daemon=True)
    thread.start()
    return Emulator(server=server, thread=thread, host=host)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the embedded AWS emulator (moto) in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--log-requests", action="store_true")
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    emulator = start_emulator(args.host, args.port, log_requests=args.log_requests)
    print(f"AWS emulator listening on {emulator.endpoint_url} (Ctrl-C to stop)", flush=True)
    stopping.wait()
    emulator.stop()
    print("AWS emulator stopped", flush=True)


if __name__ == "__main__":
    main()
