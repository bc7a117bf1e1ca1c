import pytest

from jobmanager.domain.dag import layers, validate_dag
from jobmanager.domain.errors import ValidationFailed
from jobmanager.domain.model import TaskSpec

DEFS = {"d"}


def spec(task_id, *deps, definition="d"):
    return TaskSpec(task_id, definition, {}, tuple(deps))


def errors_of(tasks, **kwargs):
    with pytest.raises(ValidationFailed) as info:
        validate_dag(tasks, known_definitions=DEFS, **kwargs)
    return info.value


def test_valid_dag_returns_topological_order():
    order = validate_dag([spec("c", "a", "b"), spec("a"), spec("b", "a")], known_definitions=DEFS)
    assert order.index("a") < order.index("b") < order.index("c")


def test_cycle_is_named_by_its_path():
    error = errors_of([spec("a", "c"), spec("b", "a"), spec("c", "b"), spec("x")])
    cycle = error.details["cycle"]
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    assert " → ".join(cycle) in error.message
    assert "x" not in cycle


def test_every_problem_is_reported_keyed_by_task_id():
    error = errors_of([spec("a", "ghost"), spec("b", definition="nope"), spec("b"), spec("c", "c"), spec("bad id")])
    tasks = error.details["tasks"]
    assert "depends on unknown task 'ghost'" in tasks["a"]
    assert any("unknown task definition 'nope'" in m for m in tasks["b"])
    assert any("duplicate" in m for m in tasks["b"])
    assert any("itself" in m for m in tasks["c"])
    assert any("letters" in m for m in tasks["bad id"])


def test_empty_job_is_refused():
    assert "at least one task" in errors_of([]).message


def test_added_tasks_may_depend_on_existing_ones_but_not_reuse_ids():
    order = validate_dag([spec("n", "old")], known_definitions=DEFS, existing_tasks={"old": "completed"})
    assert order == ["n"]
    error = errors_of([spec("old")], existing_tasks={"old": "completed"})
    assert "already exists" in error.details["tasks"]["old"][0]


def test_layers_group_tasks_by_depth():
    assert layers({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}) == [["a"], ["b", "c"], ["d"]]


def test_a_cycle_in_a_big_dag_is_found_and_named():
    # 5,000 tasks in a chain, closed into a loop by the first task depending on the last
    # (nx.find_cycle over the whole graph took minutes at this size)
    ids = [f"t{i:04d}" for i in range(5000)]
    tasks = [TaskSpec(ids[0], "step", {}, (ids[-1],))] + [TaskSpec(t, "step", {}, (ids[i],)) for i, t in enumerate(ids[1:])]

    with pytest.raises(ValidationFailed) as caught:
        validate_dag(tasks, known_definitions={"step"})

    cycle = caught.value.details["cycle"]
    assert len(cycle) == 5001 and cycle[0] == cycle[-1] and set(cycle) == set(ids)
