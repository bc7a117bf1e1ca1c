"""The OpenAPI schema at /api/schema/, and schemathesis against a real local server.

The server is ``manage.py runserver`` in its own process, on its own stack (stage) in the
test emulator and its own SQLite database, so the data schemathesis invents (task
definitions, jobs) never meets the other suites' data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from jobmanager.config import BASE_DIR
from jobmanager.local.stack import deploy_stack, stack_environment
from tests.helpers import django_server, manage

STAGE = "schemathesis"
# Everything but positive_data_acceptance: a schema-valid job can still be refused by the
# domain (an unknown task definition, a cycle) with a documented 400, which is correct.
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
])


@pytest.fixture(scope="module")
def server(aws_stack, tmp_path_factory) -> Iterator[dict[str, str]]:
    outputs = deploy_stack(endpoint_url=aws_stack["endpoint_url"], stage=STAGE)
    env = {
        **os.environ,
        **stack_environment(outputs, endpoint_url=aws_stack["endpoint_url"], region="eu-west-1", stage=STAGE),
        "STAGE": "test",  # the settings' fixed development key; the tables are this stage's
        "DJANGO_SQLITE_PATH": str(tmp_path_factory.mktemp("schemathesis") / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "jobmanager.settings",
    }
    manage(env, "migrate", "--noinput")
    key = manage(env, "create_api_key", "--name", "schemathesis", "--tenant", "schemathesis").strip()
    log = tmp_path_factory.getbasetemp() / "schemathesis-server.log"
    with django_server(env, log) as url:
        yield {"url": url, "key": key, "log": str(log)}


def test_schema_is_public_valid_openapi_and_documents_the_api(server):
    with urllib.request.urlopen(f"{server['url']}/api/schema/?format=json", timeout=10) as response:
        schema = json.loads(response.read())
    validate(schema)
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"createJob", "addTasks", "listJobs", "getJob", "putTaskDefinition", "listTaskDefinitions"} <= operations
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "apiKey", "in": "header",
                                                                    "name": "x-api-key"}
    create = schema["paths"]["/jobs"]["post"]
    assert {"201", "400", "401", "403", "429"} <= set(create["responses"])
    assert "Retry-After" in create["responses"]["429"]["headers"]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path):
    # Given the local server and a valid API key; When schemathesis explores every operation
    done = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", f"{server['url']}/api/schema/",
         "--header", f"x-api-key: {server['key']}", "--checks", CHECKS,
         "--max-examples", "25", "--seed", "8", "--workers", "2", "--no-color",
         "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
         "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=600,
    )
    # Then it passes: no 5xx, every status, content type, header and body as documented
    report = done.stdout[-8000:]
    if done.returncode != 0:
        report += "\n--- server log ---\n" + Path(server["log"]).read_text()[-4000:]
    assert done.returncode == 0, report
