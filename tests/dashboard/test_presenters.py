"""Display helpers: durations, progress, excerpts, waiting explanations."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard import presenters as p

NOW = datetime(2026, 12, 3, 18, 1, 0, tzinfo=UTC)


def test_job_progress_counts_every_finished_task():
    job = {"status": "running", "taskCount": 10, "createdAt": "2026-12-03T18:00:00.000Z",
           "counts": {"completed": 3, "failed": 1, "skipped": 1, "cancelled": 0}}
    row = p.job_row(job, now=NOW)
    assert (row["done"], row["total"], row["percent"]) == (5, 10, 50)
    assert row["duration"] == 60 and not row["finished"]


def test_task_duration_prefers_the_workers_measure_once_finished():
    finished = {"status": "completed", "startedAt": "2026-12-03T18:00:00Z", "finishedAt": "2026-12-03T18:00:30Z",
                "durationMs": 12500}
    running = {"status": "running", "startedAt": "2026-12-03T18:00:30Z"}
    assert p.task_row(finished, now=NOW)["duration"] == 12.5
    assert p.task_row(running, now=NOW)["duration"] == 30
    assert p.task_row({"status": "pending"}, now=NOW)["duration"] is None


def test_excerpt_is_cut_at_200_characters():
    assert p.excerpt({"output": "y" * 250}) == "y" * 200 + "…"
    assert p.excerpt({"outputRef": {"key": "k", "size": 5}, "outputSize": 5}) == "(stored in S3, 5 bytes)"


def test_cap_output_cuts_on_a_character_boundary():
    text, cut = p.cap_output("é" * 10, limit=5)
    assert (text, cut) == ("éé", True)
    assert p.cap_output("short") == ("short", False)


def test_waiting_for_lists_dependencies_not_completed():
    task = {"dependsOn": ["a", "b", "c"]}
    assert p.waiting_for(task, {"a": "completed", "b": "running"}) == [
        {"taskId": "b", "status": "running"}, {"taskId": "c", "status": "unknown"}]


def test_error_text_is_redacted():
    text = p.error_text({"message": "token=abcd1234secret failed", "kind": "timeout"})
    assert text.startswith("timeout: ") and "abcd1234secret" not in text


def test_compact_is_one_short_line():
    assert p.compact({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'
    assert len(p.compact({"output": "z" * 1000})) == p.COMPACT_CHARS + 1


def test_human_duration():
    assert [p.human_duration(s) for s in (None, 1.25, 42, 125, 7380)] == ["—", "1.2 s", "42 s", "2m 05s", "2h 03m"]
