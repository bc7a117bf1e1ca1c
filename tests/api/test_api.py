"""The producer API over HTTP semantics (DRF test client), against the emulator."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from api.models import ApiKey
from jobmanager.store.events_table import get_event_store
from tests.helpers import take_task_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(aws_stack) -> APIClient:
    _, raw = ApiKey.issue(name="tests", tenant_id="test-tenant")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    client.put("/task-definitions/noop", {"kind": "command", "command": ["true"]}, format="json")
    return client


def job_body(tasks, name="api-job"):
    return {"name": name, "tasks": tasks}


DIAMOND = [
    {"taskId": "a", "taskDefinition": "noop"},
    {"taskId": "b", "taskDefinition": "noop", "dependsOn": ["a"]},
    {"taskId": "c", "taskDefinition": "noop", "dependsOn": ["a"]},
    {"taskId": "d", "taskDefinition": "noop", "dependsOn": ["b", "c"], "input": {"x": 1.5}},
]


def test_missing_key_is_401_and_wrong_key_is_403(aws_stack):
    anonymous = APIClient()
    response = anonymous.get("/jobs")
    assert response.status_code == 401
    assert response.json()["message"]
    assert "ApiKey" in response["WWW-Authenticate"]
    anonymous.credentials(HTTP_X_API_KEY="jm_wrong")
    assert anonymous.get("/jobs").status_code == 403


def test_revoked_key_is_refused(aws_stack):
    key, raw = ApiKey.issue(name="old", tenant_id="test-tenant")
    key.revoked_at = key.created_at
    key.save()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get("/jobs").status_code == 403


def test_keys_are_stored_hashed(aws_stack):
    key, raw = ApiKey.issue(name="hash", tenant_id="t")
    assert raw not in (key.key_hash, key.prefix) and len(key.key_hash) == 64
    assert ApiKey.lookup(raw) == key


def test_create_job_enqueues_roots_and_reads_back(api):
    take_task_messages()
    response = api.post("/jobs", job_body(DIAMOND), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "running" and body["queued"] == ["a"]
    assert [t["taskId"] for t in take_task_messages()] == ["a"]

    job = api.get(f"/jobs/{body['jobId']}").json()
    assert {t["taskId"]: t["status"] for t in job["tasks"]} == {
        "a": "queued", "b": "pending", "c": "pending", "d": "pending"}
    assert next(t for t in job["tasks"] if t["taskId"] == "d")["input"] == {"x": 1.5}
    assert next(t for t in job["tasks"] if t["taskId"] == "d")["dependsOn"] == ["b", "c"]


def test_cycle_is_named_and_nothing_is_written(api):
    before = api.get("/jobs?limit=100").json()["jobs"]
    tasks = [
        {"taskId": "a", "taskDefinition": "noop", "dependsOn": ["c"]},
        {"taskId": "b", "taskDefinition": "noop", "dependsOn": ["a"]},
        {"taskId": "c", "taskDefinition": "noop", "dependsOn": ["b"]},
    ]
    take_task_messages()
    response = api.post("/jobs", job_body(tasks, name="cyclic"), format="json")
    assert response.status_code == 400
    body = response.json()
    assert "cycle" in body["message"]
    cycle = body["details"]["cycle"]
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert api.get("/jobs?limit=100").json()["jobs"] == before
    assert take_task_messages() == []


@pytest.mark.parametrize(
    ("tasks", "task_id", "fragment"),
    [
        ([{"taskId": "a", "taskDefinition": "nope"}], "a", "unknown task definition 'nope'"),
        ([{"taskId": "a", "taskDefinition": "noop", "dependsOn": ["zz"]}], "a", "unknown task 'zz'"),
        ([{"taskId": "a", "taskDefinition": "noop"}, {"taskId": "a", "taskDefinition": "noop"}], "a", "duplicate"),
        ([{"taskId": "a", "taskDefinition": "noop", "dependsOn": ["a"]}], "a", "itself"),
    ],
)
def test_dag_errors_are_keyed_by_task_id(api, tasks, task_id, fragment):
    response = api.post("/jobs", job_body(tasks), format="json")
    assert response.status_code == 400
    assert any(fragment in m for m in response.json()["details"]["tasks"][task_id])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tasks": DIAMOND}, "name"),
        ({"name": "x", "tasks": []}, "tasks"),
        ({"name": "x", "tasks": [{"taskId": "bad id!", "taskDefinition": "noop"}]}, "tasks"),
        ({"name": "x", "tasks": [{"taskId": "a"}]}, "tasks"),
        ({"name": "x", "tasks": "nope"}, "tasks"),
    ],
)
def test_malformed_bodies_name_the_field(api, body, field):
    response = api.post("/jobs", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_not_json_is_a_400_not_a_500(api):
    response = api.post("/jobs", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def job_count() -> int:
    return len(get_event_store().list_jobs("test-tenant", limit=100).items)


def test_deeply_nested_json_is_a_400_not_a_500(api):
    # Given JSON nested far deeper than any parser recursion allows, and deeper than DynamoDB stores
    before = job_count()
    bomb = '{"name": "n", "tasks": [{"taskId": "a", "taskDefinition": "noop", "input": {"n": ' + \
        "[" * 5000 + "]" * 5000 + "}}]}"
    deep = job_body([{"taskId": "a", "taskDefinition": "noop", "input": {"x": json.loads("[" * 25 + "]" * 25)}}])

    # When they are posted, then each is a 400 saying why, and nothing is written
    response = api.post("/jobs", bomb, content_type="application/json")
    assert response.status_code == 400 and response.json()["message"] == "JSON parse error: nested too deeply"
    response = api.post("/jobs", deep, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "task 'a': input is nested more than 20 levels deep"
    assert job_count() == before


def test_a_body_over_the_size_limit_is_a_413(api, settings):
    before = job_count()
    big = json.dumps(job_body(DIAMOND[:1], name="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)))
    response = api.post("/jobs", big, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"message": f"the request body is over the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE}-byte "
                                          "limit", "code": "too_large"}
    assert job_count() == before


def test_metadata_over_its_limit_is_a_400_naming_it(api):
    before = job_count()
    response = api.post("/jobs", {**job_body(DIAMOND[:1]), "metadata": {"x": "m" * 500_000}}, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {"field": "metadata"}
    assert response.json()["message"].startswith("metadata is 500009 bytes, over the 16384-byte limit")
    assert job_count() == before


def test_list_jobs_is_paginated_newest_first(api):
    ids = [api.post("/jobs", job_body(DIAMOND[:1], name=f"p{i}"), format="json").json()["jobId"] for i in range(3)]
    first = api.get("/jobs?limit=2").json()
    assert [j["jobId"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["nextCursor"]
    second = api.get(f"/jobs?limit=2&cursor={first['nextCursor']}").json()
    assert second["jobs"][0]["jobId"] == ids[0]
    assert api.get("/jobs?cursor=garbage").status_code == 400
    assert api.get("/jobs?status=bogus").status_code == 400
    assert all(j["status"] == "running" for j in api.get("/jobs?status=running").json()["jobs"])


def test_unknown_job_is_404(api):
    response = api.get("/jobs/NOPE")
    assert response.status_code == 404
    assert response.json()["details"]["jobId"] == "NOPE"


def test_other_tenants_jobs_are_invisible(api):
    job_id = api.post("/jobs", job_body(DIAMOND[:1]), format="json").json()["jobId"]
    _, raw = ApiKey.issue(name="other", tenant_id="other-tenant")
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=raw)
    assert other.get(f"/jobs/{job_id}").status_code == 404
    assert job_id not in [j["jobId"] for j in other.get("/jobs").json()["jobs"]]


@pytest.mark.parametrize("bad", [
    "{input.x[0]}", "{input.x!r:>100}", "{tasks.a}", "{tasks.__class__}", "{input.x",
    # attribute / dunder access, in str.format terms
    "{input.__class__}", "{input.topic.__class__.__mro__}", "{tasks.a.output.__globals__}", "{input._private}",
])
def test_a_malformed_placeholder_is_refused_naming_it(api, bad):
    response = api.put("/task-definitions/templ", {"kind": "agent", "instructions": f"Look at {bad} now"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == f"invalid task definition 'templ': malformed placeholder {bad}"
    assert response.json()["details"]["instructions"][0].startswith(f"malformed placeholder {bad}: use {{input}}")
    assert api.get("/task-definitions").json()  # listing works; nothing was stored:
    assert "templ" not in [d["name"] for d in api.get("/task-definitions").json()["taskDefinitions"]]


@pytest.mark.parametrize("field", ["role", "tag", "command"])
def test_dunder_placeholders_are_refused_in_every_templated_field(api, field):
    body = {"kind": "command", "command": ["echo", "{input.__class__}"]} if field == "command" else \
        {"kind": "agent", "instructions": "ok {input.x}", field: "{input.__class__}"}
    response = api.put("/task-definitions/templ-field", body, format="json")
    assert response.status_code == 400
    assert "{input.__class__}" in response.json()["message"]
    assert list(response.json()["details"]) == [field]


def test_well_formed_placeholders_and_json_braces_are_accepted(api):
    instructions = 'Reply as {"topic": "..."} about {input.topic}, {input.list.0} and {tasks.up.output.key}'
    response = api.put("/task-definitions/templ-ok", {"kind": "agent", "instructions": instructions}, format="json")
    assert response.status_code in (200, 201), response.json()


def test_idempotency_key_header_returns_the_first_job(api):
    first = api.post("/jobs", job_body(DIAMOND), format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    again = api.post("/jobs", job_body(DIAMOND), format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["jobId"] == first.json()["jobId"]
    # the replay shows the job as it is: every task, nothing newly queued by this call
    assert sorted(t["taskId"] for t in again.json()["tasks"]) == ["a", "b", "c", "d"]
    assert again.json()["queued"] == []


def test_an_idempotency_key_reused_for_another_request_is_a_422_and_a_bad_key_a_400(api):
    # Given a job created with a key
    first = api.post("/jobs", job_body(DIAMOND[:1]), format="json", HTTP_IDEMPOTENCY_KEY="k-reuse")
    before = job_count()

    # When the key comes back with a different body, or a key is too long or not ASCII
    other = api.post("/jobs", job_body(DIAMOND[:1], name="another"), format="json", HTTP_IDEMPOTENCY_KEY="k-reuse")
    long = api.post("/jobs", job_body(DIAMOND[:1]), format="json", HTTP_IDEMPOTENCY_KEY="k" * 5000)

    # Then the reuse is refused naming the first job, the long key named, and nothing written
    assert other.status_code == 422
    assert other.json()["details"] == {"field": "Idempotency-Key", "jobId": first.json()["jobId"]}
    assert long.status_code == 400 and long.json()["details"] == {"field": "Idempotency-Key"}
    assert job_count() == before


@pytest.mark.parametrize("where, value, fragment", [
    (where, value, fragment)
    for where in ("input", "metadata")
    for value, fragment in ((1e300 * 10, "out of range"),  # sent as 1e400
                            (10 ** 40, "more than 38 digits"),
                            (1e-200, "out of range"),
                            ("\udfff", "unpaired surrogate"))
] + [("metadata-key", "\ud800", "unpaired surrogate")])
def test_values_dynamodb_cannot_store_are_a_400_naming_where(api, where, value, fragment):
    # Given a value DynamoDB would refuse, in a task's input, in the metadata, or as a key
    task = {"taskId": "a", "taskDefinition": "noop"}
    body = job_body([task])
    if where == "input":
        task["input"] = {"v": value}
    elif where == "metadata":
        body["metadata"] = {"v": [value]}
    else:
        body["metadata"] = {value: 1}
    before = job_count()

    # When it is posted (as raw JSON text: inf and lone surrogates can't be encoded by json.dumps here)
    raw = json.dumps(body, allow_nan=True).replace("Infinity", "1e400")
    response = api.post("/jobs", raw, content_type="application/json")

    # Then it is a 400 that says where and why, and nothing is written
    assert response.status_code == 400, response.content
    message = response.json()["message"]
    assert fragment in message and message.startswith("task 'a': input:" if where == "input" else "metadata:")
    assert job_count() == before


def test_a_definition_with_an_unstorable_value_is_a_400_naming_the_field(api):
    for field, raw in (("description", '"bad \\udfff"'), ("timeoutSeconds", "1e400"), ("model", '"\\ud800"')):
        body = '{"kind": "command", "command": ["true"], "%s": %s}' % (field, raw)
        response = api.put("/task-definitions/unstorable", body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert list(response.json()["details"]) == [field]
    assert "unstorable" not in [d["name"] for d in api.get("/task-definitions").json()["taskDefinitions"]]


@pytest.mark.parametrize("forged", [{"PK": "x"}, {"PK": "x", "SK": "y"}, {"PK": "x", "SK": "y", "GSI1PK": "z", "GSI1SK": "w"}])
def test_a_forged_cursor_is_a_400_on_every_listing(api, forged):
    import base64
    job_id = api.post("/jobs", job_body(DIAMOND[:1]), format="json").json()["jobId"]
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    for path in ("/jobs", "/jobs?status=running", f"/jobs/{job_id}"):
        response = api.get(f"{path}{'&' if '?' in path else '?'}cursor={cursor}")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["details"] == {"field": "cursor"}


def test_a_cursor_of_one_job_is_refused_on_another(api):
    tasks = [{"taskId": f"t{i}", "taskDefinition": "noop"} for i in range(3)]
    first, second = (api.post("/jobs", job_body(tasks), format="json").json()["jobId"] for _ in range(2))
    cursor = api.get(f"/jobs/{first}?taskLimit=1").json()["tasksNextCursor"]
    assert api.get(f"/jobs/{first}?taskLimit=1&cursor={cursor}").status_code == 200
    assert api.get(f"/jobs/{second}?taskLimit=1&cursor={cursor}").status_code == 400


def test_add_tasks_to_running_and_finished_jobs(api):
    job_id = api.post("/jobs", job_body(DIAMOND[:1]), format="json").json()["jobId"]
    response = api.post(f"/jobs/{job_id}/tasks", {"tasks": [{"taskId": "z", "taskDefinition": "noop",
                                                            "dependsOn": ["a"]}]}, format="json")
    assert response.status_code == 201 and response.json()["added"] == ["z"]
    dup = api.post(f"/jobs/{job_id}/tasks", {"tasks": [{"taskId": "z", "taskDefinition": "noop"}]}, format="json")
    assert dup.status_code == 400 and "z" in dup.json()["details"]["tasks"]
    # a finished job refuses new tasks
    get_event_store().finish_job(job_id, tenant_id="test-tenant", status="completed", event_id="E", trigger="t",
                                 now="2026-01-01T00:00:00.000Z")
    late = api.post(f"/jobs/{job_id}/tasks", {"tasks": [{"taskId": "q", "taskDefinition": "noop"}]}, format="json")
    assert late.status_code == 409


def test_task_definitions_put_and_list(api):
    body = {"kind": "agent", "description": "Summarise", "role": "You are terse.", "instructions": "Summarise {input.text}",
            "model": "claude-sonnet-4-5", "maxTurns": 3, "allowedTools": ["Read"], "timeoutSeconds": 60, "maxAttempts": 2}
    created = api.put("/task-definitions/summarise-x", body, format="json")
    assert created.status_code == 201, created.content
    updated = api.put("/task-definitions/summarise-x", {**body, "maxTurns": 4}, format="json")
    assert updated.status_code == 200 and updated.json()["version"] == 2 and updated.json()["maxTurns"] == 4
    listed = api.get("/task-definitions").json()["taskDefinitions"]
    assert any(d["name"] == "summarise-x" and d["maxTurns"] == 4 for d in listed)
    assert updated.json()["retryBackoffSeconds"] is None  # the worker's --retry-backoff
    own = api.put("/task-definitions/summarise-x", {**body, "retryBackoffSeconds": 0.5}, format="json")
    assert own.status_code == 200 and own.json()["retryBackoffSeconds"] == 0.5
    too_long = api.put("/task-definitions/summarise-x", {**body, "retryBackoffSeconds": 901}, format="json")
    assert too_long.status_code == 400 and "retryBackoffSeconds" in too_long.json()["details"]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("Bad Name", {"kind": "command", "command": ["true"]}, "name"),
        ("ok", {"kind": "agent"}, "instructions"),
        ("ok", {"kind": "command"}, "command"),
        ("ok", {"kind": "robot"}, "kind"),
        ("ok", {"kind": "agent", "instructions": "x", "maxTurns": 0}, "maxTurns"),
        ("ok", {"kind": "agent", "instructions": "Summarise {input.x[0]}"}, "instructions"),
        ("ok", {"kind": "command", "command": ["echo", "{tasks.__class__}"]}, "command"),
    ],
)
def test_invalid_definitions_name_the_field(api, name, body, field):
    response = api.put(f"/task-definitions/{name}", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_browsable_api_renders_html(api):
    response = api.get("/jobs", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"<html" in response.content.lower()


def test_a_key_pasted_into_a_job_name_is_not_stored_or_echoed(api, aws_stack):
    _, raw = ApiKey.issue(name="echo", tenant_id="test-tenant")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    response = client.post("/jobs", {"name": f"leak {raw}", "tasks": DIAMOND[:1]}, format="json")
    assert raw not in json.dumps(response.json())
    assert "[REDACTED]" in api.get(f"/jobs/{response.json()['jobId']}").json()["name"]


@pytest.mark.parametrize("path", ["/nonexistent", "/jobs/x/tasks/y", "/task-definitions/a/b"])
def test_an_unknown_api_path_is_a_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": f"no such endpoint: GET {path}", "code": "not_found"}


def test_an_unknown_dashboard_path_is_the_html_page_and_a_trimmed_job_url_redirects(admin_client):
    response = admin_client.get("/dashboard/nope/")
    assert response.status_code == 404 and b"There is nothing at" in response.content
    assert admin_client.get("/dashboard/jobs/").url == "/dashboard/"


def test_unknown_fields_are_refused_by_name_so_a_typo_cannot_change_what_runs(api):
    # Given a job whose second task misspells dependsOn, and a definition with a stray field
    before = job_count()
    typo = job_body([{"taskId": "a", "taskDefinition": "noop"},
                     {"taskId": "b", "taskDefinition": "noop", "depends_on": ["a"]}])

    # When they are sent
    job = api.post("/jobs", typo, format="json")
    top = api.post("/jobs", {**job_body(DIAMOND[:1]), "priority": 1}, format="json")
    definition = api.put("/task-definitions/stray", {"kind": "command", "command": ["true"], "bogus": 1},
                         format="json")
    renamed = api.put("/task-definitions/stray", {"kind": "command", "command": ["true"], "name": "other"},
                      format="json")

    # Then each is a 400 naming the field, and nothing is written
    assert job.status_code == 400 and job.json()["details"]["tasks"]["1"]["depends_on"][0].startswith("unknown field")
    assert "depends_on" in job.json()["message"]
    assert top.status_code == 400 and list(top.json()["details"]) == ["priority"]
    assert definition.status_code == 400 and list(definition.json()["details"]) == ["bogus"]
    assert renamed.status_code == 400 and "URL names 'stray'" in renamed.json()["details"]["name"][0]
    assert job_count() == before
    # ... while a definition sent back as it was read (name, version, updatedAt) is accepted
    api.put("/task-definitions/stray", {"kind": "command", "command": ["true"]}, format="json")
    (read,) = [d for d in api.get("/task-definitions").json()["taskDefinitions"] if d["name"] == "stray"]
    assert api.put("/task-definitions/stray", read, format="json").status_code == 200


def test_a_1000_task_job_over_400_kb_is_stored_and_paged_through(api):
    # Given a 1,000-task job whose definition (inputs included) is far over DynamoDB's
    # 400 KB item limit: each task is its own item, so nothing is near it
    tasks = [{"taskId": f"t{i:04d}", "taskDefinition": "noop", "input": {"notes": "x" * 500},
              "dependsOn": [f"t{i - 1:04d}"] if i % 10 else []} for i in range(1000)]
    assert len(json.dumps(tasks)) > 400 * 1024
    take_task_messages()  # what other tests left on the shared queue
    created = api.post("/jobs", {"name": "big", "tasks": tasks}, format="json")
    assert created.status_code == 201, created.json()
    job_id = created.json()["jobId"]
    assert len(take_task_messages()) == 100  # the 100 roots, sent in batches

    # When the job is read a page at a time
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get(f"/jobs/{job_id}", {"taskLimit": 300, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        body = response.json()
        seen += [t["taskId"] for t in body["tasks"]]
        pages += 1
        cursor = body["tasksNextCursor"]
        if not cursor:
            break

    # Then every task comes back exactly once
    assert pages == 4 and sorted(seen) == [t["taskId"] for t in tasks]
    assert body["taskCount"] == 1000


def test_an_invalid_task_is_named_by_its_index_in_the_message_and_the_details(api):
    # Given a job whose second task has a number for its id (its first is valid)
    before = job_count()
    body = job_body([DIAMOND[0], {"taskId": 1, "taskDefinition": "noop"}])

    # When it is posted
    response = api.post("/jobs", body, format="json")

    # Then the 400 points at that task's field, the valid one is not mentioned, and nothing is written
    assert response.status_code == 400
    assert response.json()["message"] == "invalid request: tasks[1].taskId: Not a valid string."
    assert response.json()["details"] == {"tasks": {"1": {"taskId": ["Not a valid string."]}}}
    assert job_count() == before
