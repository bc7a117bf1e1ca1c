from jobmanager.domain.events import Event, EventType, new_event
from jobmanager.domain.ids import new_ulid, ulid_millis
from jobmanager.store import keys


def test_ulids_sort_in_creation_order_even_within_a_millisecond():
    ids = [new_ulid() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == 2000


def test_event_round_trips_and_its_timestamp_comes_from_its_id():
    event = new_event(EventType.TASK_COMPLETED, tenant_id="t", app_name="a", source="worker", job_id="J",
                      task_id="x", request_id="R", attempt=2, data={"workerId": "w1", "taskDefinition": "d"})
    detail = event.to_detail()
    assert Event.from_detail(detail) == event
    assert detail["timestamp"].endswith("Z") and ulid_millis(event.event_id) > 0


def test_event_keys_cover_the_seven_indexes():
    event = new_event(EventType.TASK_STARTED, tenant_id="t", app_name="a", source="worker", job_id="J",
                      task_id="x", request_id="R", attempt=1, data={"workerId": "w1", "taskDefinition": "d"})
    item = keys.event_item_keys(event.to_detail())
    assert item["PK"] == "JOB#J" and item["SK"] == f"EVT#{event.event_id}"
    assert item["GSI2PK"] == keys.task_history_pk("J", "x")
    assert item["GSI3PK"] == keys.request_pk("R")
    assert item["GSI4PK"] == keys.event_type_pk("t", "Task Started")
    assert item["GSI6PK"] == keys.definition_pk("d") and item["GSI7PK"] == keys.worker_pk("w1")
    job_keys = keys.job_index_keys(tenant_id="t", job_id="J", created_at="2026", status="running")
    assert job_keys["GSI1PK"] == keys.tenant_jobs_pk("t") and job_keys["GSI5PK"] == keys.job_status_pk("t", "running")


def test_events_without_a_job_live_under_the_tenant():
    event = new_event(EventType.TASK_DEFINITION_UPDATED, tenant_id="t", app_name="a", source="api", data={})
    assert keys.event_item_keys(event.to_detail())["PK"] == keys.tenant_events_pk("t")
