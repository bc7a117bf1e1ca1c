"""The schedule, as deployed: every 5 minutes in prod, none (disabled) in dev, like the seed."""

from __future__ import annotations

import importlib
import json
import time

from jobmanager.config import BASE_DIR

HANDLER = "lambdas.health_check.handler"


def _schedules(stage: str) -> list[dict]:
    settings = json.loads((BASE_DIR / "zappa_settings.json").read_text())
    return [e for e in settings[stage].get("events", []) if e.get("function") == HANDLER and "expression" in e]


def test_prod_runs_the_health_check_every_five_minutes_and_dev_not_at_all():
    assert [(e["expression"], e.get("enabled", True)) for e in _schedules("prod")] == [("rate(5 minutes)", True)]
    assert all(e.get("enabled") is False for e in _schedules("dev"))


def test_the_scheduled_function_is_importable_as_zappa_names_it():
    module, _, name = HANDLER.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_the_local_loop_runs_the_check_on_its_interval_and_survives_errors():
    from jobmanager.local.health_loop import HealthCheckLoop

    said: list[str] = []
    outcomes = iter([RuntimeError("emulator gone"),
                     {"alerts": [{"level": "critical", "jobId": "J", "taskId": "t", "slack": "off"}]}])

    def check():
        outcome = next(outcomes, {"alerts": []})
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    loop = HealthCheckLoop(interval=0.05, check=check, say=said.append).start()
    try:
        deadline = time.monotonic() + 5
        while loop.runs < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        loop.stop()
    assert loop.runs >= 3  # the failing run didn't stop the loop
    assert said == ["health: critical J/t (slack: off)"]
