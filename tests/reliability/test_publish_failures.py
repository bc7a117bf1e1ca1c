"""PutEvents answers HTTP 200 even when some entries failed: the publisher retries the
failed entries (and only those), and raises when they keep failing — never a silent loss.
The emulator injects the partial failure over real HTTP (moto can't produce one)."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest

from jobmanager.aws import bus
from jobmanager.domain.events import EventType, Source, new_event
from jobmanager.local.emulator import FAULTS_PATH
from tests.helpers import EventTap


def inject_put_events_failures(endpoint_url: str, count: int) -> None:
    request = urllib.request.Request(endpoint_url + FAULTS_PATH, method="POST",
                                     data=json.dumps({"putEventsEntryFailures": count}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"putEventsEntryFailures": count}


def progress_events(job_id: str, count: int):
    return [new_event(EventType.TASK_PROGRESS, tenant_id="rel", app_name="test", source=Source.WORKER,
                      job_id=job_id, task_id=f"t{n}", data={"n": n}) for n in range(count)]


@pytest.fixture
def faults(aws_stack):
    yield lambda count: inject_put_events_failures(aws_stack["endpoint_url"], count)
    inject_put_events_failures(aws_stack["endpoint_url"], 0)


def test_entries_that_failed_are_retried_and_each_arrives_once(faults, caplog):
    # Given a bus that fails the next 3 entries (HTTP 200, FailedEntryCount 3)
    tap = EventTap()
    events = progress_events("01PARTIALFAILURE0000000000", 5)
    faults(3)

    # When 5 events are published in one call
    with caplog.at_level(logging.WARNING, logger="jobmanager.aws.bus"):
        bus.publish(events)

    # Then every event is on the bus exactly once, in spite of the partial failure
    seen = [e["eventId"] for e in tap.read() if e["jobId"] == "01PARTIALFAILURE0000000000"]
    assert sorted(seen) == sorted(e.event_id for e in events)
    assert "PutEvents: 3 of 5 entries failed (['ThrottlingException']), attempt 1" in caplog.text


def test_entries_that_keep_failing_raise_and_say_how_many(faults):
    # Given a bus that keeps failing every entry
    tap = EventTap()
    faults(1000)

    # When 2 events are published, then the call fails visibly, naming how many were lost
    with pytest.raises(bus.PublishFailed, match=r"^2 event\(s\) could not be put on the bus after 4 attempts$"):
        bus.publish(progress_events("01KEEPSFAILING000000000000", 2))
    faults(0)
    assert [e for e in tap.read() if e["jobId"] == "01KEEPSFAILING000000000000"] == []
