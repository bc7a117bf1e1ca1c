"""Runs in a child process of test_dispatch_concurrency: deliver completion events to the
dispatcher at the same instant as the other children (a shared barrier), against the
emulator over HTTP — like concurrent dispatcher Lambdas."""

from __future__ import annotations

from typing import Any

from jobmanager.domain.events import Event
from jobmanager.services import dispatch


def deliver(details: list[dict[str, Any]], barrier: Any, crash_on_send: bool) -> int:
    """Dispatch these events once the others are ready too; returns how many raised."""
    if crash_on_send:
        def crash(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("crash between claim and send")

        dispatch.queue.send_messages = crash  # in this process only
    events = [Event.from_detail(d) for d in details]
    barrier.wait(timeout=60)
    crashed = 0
    for event in events:
        try:
            dispatch.handle_event(event)
        except RuntimeError:
            crashed += 1
    return crashed
