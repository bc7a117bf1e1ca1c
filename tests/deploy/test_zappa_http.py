"""The web app as Lambda serves it: API Gateway events through Zappa's real handler with
the production settings — static files from the package (WhiteNoise), the schema, the
dashboard behind login, HTTPS only with HSTS."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from zappa.cli import ZappaCLI

from .conftest import ROOT, rendered

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"


def api_gateway(path: str, *, proto: str = "https") -> dict:
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": "GET",
        "headers": {"Host": HOST, "X-Forwarded-Proto": proto, "Accept": "*/*", "X-Forwarded-For": "203.0.113.9"},
        "multiValueHeaders": None, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None, "body": None,
        "isBase64Encoded": False,
        "requestContext": {"stage": "prod", "path": f"/prod{path}", "httpMethod": "GET", "requestId": "r1",
                           "identity": {"sourceIp": "203.0.113.9"}, "resourcePath": "/{proxy+}"},
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zappa-http")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_STATIC_ROOT": str(tmp / "static"), "DJANGO_SECRET_KEY": "collect-" + "x" * 50,
                "DJANGO_ALLOWED_HOSTS": "localhost", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
                "DJANGO_SETTINGS_MODULE": "jobmanager.settings_production"})
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    manifest = json.loads((tmp / "static" / "staticfiles.json").read_text())["paths"]

    settings_file = tmp / "zappa_settings.json"
    settings_file.write_text(json.dumps(rendered("prod")))
    cli = ZappaCLI()
    cli.api_stage = "prod"
    cli.load_settings(str(settings_file))
    (tmp / "packaged_settings.py").write_text(cli.get_zappa_settings_string())

    def request(*events: dict) -> list[dict]:
        # The Lambda's environment: the packaged settings' own, plus what deploy puts in its configuration.
        lambda_env = {k: v for k, v in env.items() if k not in ("DJANGO_ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")}
        lambda_env["PYTHONPATH"] = str(ROOT)  # /var/task in Lambda
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "deploy" / "zappa_http_driver.py"), str(tmp),
                               "packaged_settings"], cwd=ROOT, env=lambda_env, input=json.dumps(list(events)),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return request, manifest


def test_production_web_app_behind_api_gateway(served):
    request, manifest = served
    css = manifest["dashboard/dashboard.css"]
    static, schema, dashboard, plain_http = request(
        api_gateway(f"/static/{css}"), api_gateway("/api/schema/"), api_gateway("/dashboard/"),
        api_gateway("/jobs", proto="http"),
    )
    # The dashboard's CSS, from the package, cached for good (its name has its hash).
    assert static["statusCode"] == 200, static
    assert static["headers"]["Content-Type"].startswith("text/css")
    assert "immutable" in static["headers"]["Cache-Control"]
    assert "max-age=31536000" in static["headers"]["Strict-Transport-Security"]
    # The OpenAPI schema, publicly.
    body = base64.b64decode(schema["body"]).decode() if schema.get("isBase64Encoded") else schema["body"]
    assert schema["statusCode"] == 200 and body.startswith("openapi: 3")
    # The dashboard only after login; links keep API Gateway's stage prefix.
    assert dashboard["statusCode"] == 302
    assert dashboard["headers"]["Location"].startswith("/prod/accounts/login/?next=/prod/dashboard/")
    # Plain HTTP is sent to HTTPS.
    assert plain_http["statusCode"] == 301
    assert plain_http["headers"]["Location"] == f"https://{HOST}/prod/jobs"
