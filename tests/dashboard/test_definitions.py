"""Task definitions from the dashboard: create and edit (checked as the API checks
them), the version history, and the prompt preview for a sample input."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from api.models import ApiKey
from jobmanager.services import task_definitions

from .conftest import TENANT

pytestmark = pytest.mark.usefixtures("aws_stack")

FORM = {"kind": "agent", "description": "writes a haiku", "instructions": "A haiku about {input.topic}.",
        "role": "You are terse.", "tag": "[haiku]", "model": "", "allowedTools": "Read, Write", "command": "",
        "maxTurns": "3", "timeoutSeconds": "60", "maxAttempts": "2"}


def unique() -> str:
    return f"dash-def-{uuid.uuid4().hex[:8]}"


def test_create_then_edit_keeps_each_version(ops_client):
    name = unique()
    new = ops_client.get(reverse("dashboard:task-definition-new")).content.decode()
    assert 'id="definition-form"' in new and 'name="instructions"' in new

    created = ops_client.post(reverse("dashboard:task-definition-new"), {**FORM, "name": name}, follow=True)
    edit_url = reverse("dashboard:task-definition", args=[name])
    assert created.redirect_chain[-1][0] == edit_url
    assert f"Task definition {name} created: version 1." in created.content.decode()

    edited = ops_client.post(edit_url, {**FORM, "instructions": "Two haiku about {input.topic}.", "timeoutSeconds": "90"},
                             follow=True)
    html = edited.content.decode()
    assert f"Task definition {name} saved: version 2." in html

    # Stored as the API stores it (and read back through the API)
    _, raw = ApiKey.issue(name="dash-defs", tenant_id=TENANT)
    listed = Client().get("/task-definitions", HTTP_X_API_KEY=raw).json()["taskDefinitions"]
    (mine,) = [d for d in listed if d["name"] == name]
    assert mine["version"] == 2 and mine["timeoutSeconds"] == 90 and mine["allowedTools"] == ["Read", "Write"]
    assert not any("#" in d["name"] for d in listed)  # saved versions are not definitions
    # The history shows both versions, newest first, with what each ran
    history = html[html.index('id="history"'):]
    assert history.index('data-version="2"') < history.index('data-version="1"')
    assert "Two haiku about {input.topic}." in history and "A haiku about {input.topic}." in history
    assert [v.version for v in task_definitions.definition_history(name)] == [2, 1]
    # Listed with a link to its page
    assert f'href="{edit_url}"' in ops_client.get(reverse("dashboard:task-definitions")).content.decode()


def test_invalid_definitions_are_refused_like_the_api_and_nothing_is_saved(ops_client):
    name = unique()
    cases = [
        ({**FORM, "name": "Bad Name"}, "1-64 lowercase letters"),
        ({**FORM, "name": name, "instructions": ""}, "an agent definition needs instructions"),
        ({**FORM, "name": name, "instructions": "About {input.topic!r}"}, "malformed placeholder"),
        ({**FORM, "name": name, "maxAttempts": "99"}, "maxAttempts"),
        ({**FORM, "name": name, "kind": "command", "command": ""}, "a command definition needs an argv list"),
        ({**FORM, "name": name, "kind": "command", "command": '["echo", 1'}, "not a valid JSON list"),
    ]
    for form, expected in cases:
        response = ops_client.post(reverse("dashboard:task-definition-new"), form)
        html = response.content.decode()
        assert response.status_code == 400 and "Not saved" in html and expected in html, expected
        assert 'value="writes a haiku"' in html  # what was typed is kept
    assert ops_client.get(reverse("dashboard:task-definition", args=[name])).status_code == 404

    ops_client.post(reverse("dashboard:task-definition-new"), {**FORM, "name": name})
    again = ops_client.post(reverse("dashboard:task-definition-new"), {**FORM, "name": name})
    assert again.status_code == 400 and "exists: edit it instead" in again.content.decode()


def test_preview_renders_the_prompt_or_argv_for_a_sample_input(ops_client):
    url = reverse("dashboard:task-definition-preview")
    html = ops_client.post(url, {**FORM, "name": "unsaved", "sample_input": '{"topic": "moss"}'},
                           HTTP_HX_REQUEST="true").content.decode()
    assert "[haiku]\n\nA haiku about moss." in html and "You are terse." in html and "<html" not in html

    upstream = ops_client.post(url, {**FORM, "instructions": "Use {tasks.research.output}", "sample_input": "{}",
                                     "sample_upstream": '{"research": "<b>notes</b>"}'}).content.decode()
    assert "Use &lt;b&gt;notes&lt;/b&gt;" in upstream

    argv = ops_client.post(url, {**FORM, "kind": "command", "command": "echo\n{input.n}",
                                 "sample_input": '{"n": 7}'}).content.decode()
    assert "[&quot;echo&quot;, &quot;7&quot;]" in argv

    missing = ops_client.post(url, {**FORM, "sample_input": "{}"}).content.decode()
    assert "template placeholder {input.topic} has no value" in missing
    bad_json = ops_client.post(url, {**FORM, "sample_input": "{nope"}).content.decode()
    assert "sample input" in bad_json and "not valid JSON" in bad_json
