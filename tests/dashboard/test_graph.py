"""The DAG layout: columns by generation, rows within a column, edges between them."""

from __future__ import annotations

from dashboard.graph import COLUMN_GAP, MARGIN, NODE_HEIGHT, NODE_WIDTH, layout, shorten


def task(task_id: str, *deps: str, status: str = "pending") -> dict:
    return {"taskId": task_id, "status": status, "dependsOn": list(deps)}


def diamond() -> list[dict]:
    return [task("a", status="completed"), task("b", "a", status="running"), task("c", "a"), task("d", "b", "c")]


def test_columns_are_generations_and_rows_stack_within_a_column():
    result = layout(diamond())
    nodes = {n.task_id: n for n in result.nodes}

    assert {t: n.column for t, n in nodes.items()} == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert (nodes["b"].row, nodes["c"].row) == (0, 1)
    assert nodes["a"].x == MARGIN and nodes["b"].x == MARGIN + NODE_WIDTH + COLUMN_GAP
    assert nodes["b"].x == nodes["c"].x and nodes["c"].y > nodes["b"].y
    # Single-node columns are centred on the tallest column
    assert nodes["a"].y == nodes["d"].y == (result.height - NODE_HEIGHT) // 2
    assert result.order == ["a", "b", "c", "d"]


def test_canvas_fits_every_node():
    result = layout(diamond())
    assert result.width == max(n.x + n.width for n in result.nodes) + MARGIN
    assert result.height == max(n.y + n.height for n in result.nodes) + MARGIN


def test_edges_run_from_dependency_right_side_to_dependent_left_side():
    result = layout(diamond())
    nodes = {n.task_id: n for n in result.nodes}

    assert {(e.source, e.target) for e in result.edges} == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    edge = next(e for e in result.edges if (e.source, e.target) == ("a", "b"))
    a, b = nodes["a"], nodes["b"]
    assert edge.path.startswith(f"M {a.x + a.width} {a.y + a.height // 2} C")
    assert edge.path.endswith(f"{b.x} {b.y + b.height // 2}")
    assert edge.status == "completed"  # coloured by the dependency's state


def test_nodes_carry_status_and_a_shortened_label():
    long_id = "a-very-long-task-identifier-indeed"
    result = layout([task(long_id, status="failed")])
    (node,) = result.nodes
    assert node.status == "failed" and node.task_id == long_id
    assert node.label == shorten(long_id) and node.label.endswith("…") and len(node.label) <= 20


def test_rows_follow_their_dependencies_to_limit_crossings():
    # x depends on the bottom root, y on the top one: y is drawn above x
    result = layout([task("r1"), task("r2"), task("x", "r2"), task("y", "r1")])
    rows = {n.task_id: n.row for n in result.nodes}
    assert rows["r1"] < rows["r2"] and rows["y"] < rows["x"]


def test_dependencies_outside_the_given_tasks_are_left_out():
    result = layout([task("b", "a-on-another-page")])
    assert [n.task_id for n in result.nodes] == ["b"] and result.edges == []


def test_big_jobs_fall_back_to_the_table():
    tasks = [task(f"t{i}") for i in range(201)]
    result = layout(tasks)
    assert result.too_big and result.task_count == 201
    assert result.nodes == [] and result.edges == [] and result.order == []
    assert not layout(tasks[:200]).too_big


def test_no_tasks_draws_nothing():
    result = layout([])
    assert result.nodes == [] and result.width == 0 and not result.too_big
