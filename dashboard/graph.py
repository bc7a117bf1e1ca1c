"""Layout of a job's DAG for the server-rendered SVG.

Columns are the topological generations from ``dag.layers()`` (a task sits one column
right of its latest dependency), rows are positions within a column. Pure: tasks in,
coordinates out; the template only draws what this returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jobmanager.domain.dag import layers

MAX_NODES = 200  # past this an SVG is unreadable and slow to render: the table alone is shown

NODE_WIDTH = 156
NODE_HEIGHT = 46
COLUMN_GAP = 64
ROW_GAP = 16
MARGIN = 12
LABEL_CHARS = 20


@dataclass(frozen=True)
class Node:
    task_id: str
    status: str
    label: str  # the id, shortened to fit the box (the full id is in a <title>)
    column: int
    row: int
    x: int
    y: int
    width: int = NODE_WIDTH
    height: int = NODE_HEIGHT


@dataclass(frozen=True)
class Edge:
    source: str  # the dependency
    target: str  # the task that waits for it
    path: str  # SVG path data, from the source's right side to the target's left side
    status: str  # the dependency's status: a completed dependency draws a solid line


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    too_big: bool = False
    task_count: int = 0

    @property
    def order(self) -> list[str]:
        """Task ids column by column, top to bottom: the order the table uses too."""
        return [n.task_id for n in self.nodes]


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layout(tasks: Iterable[Mapping[str, Any]], *, max_nodes: int = MAX_NODES) -> Layout:
    """Place ``tasks`` (dicts with ``taskId``, ``status``, ``dependsOn``). A dependency
    that is not among ``tasks`` (e.g. on a later page) is left out of the drawing."""
    by_id = {t["taskId"]: t for t in tasks}
    if len(by_id) > max_nodes:
        return Layout(nodes=[], edges=[], width=0, height=0, too_big=True, task_count=len(by_id))
    if not by_id:
        return Layout(nodes=[], edges=[], width=0, height=0)

    deps = {tid: [d for d in t.get("dependsOn") or [] if d in by_id] for tid, t in by_id.items()}
    columns = _order_rows(layers(deps), deps)
    tallest = max(len(c) for c in columns)
    height = 2 * MARGIN + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP

    nodes: dict[str, Node] = {}
    for col, ids in enumerate(columns):
        # Centre each column on the tallest one so short columns don't hug the top.
        column_height = len(ids) * NODE_HEIGHT + (len(ids) - 1) * ROW_GAP
        top = (height - column_height) // 2
        for row, task_id in enumerate(ids):
            nodes[task_id] = Node(
                task_id=task_id,
                status=str(by_id[task_id].get("status") or "pending"),
                label=shorten(task_id),
                column=col,
                row=row,
                x=MARGIN + col * (NODE_WIDTH + COLUMN_GAP),
                y=top + row * (NODE_HEIGHT + ROW_GAP),
            )

    edges = [
        Edge(source=dep, target=task_id, path=_curve(nodes[dep], nodes[task_id]), status=nodes[dep].status)
        for task_id in (n for col in columns for n in col)
        for dep in sorted(deps[task_id])
    ]
    width = 2 * MARGIN + len(columns) * NODE_WIDTH + (len(columns) - 1) * COLUMN_GAP
    ordered = [nodes[task_id] for col in columns for task_id in col]
    return Layout(nodes=ordered, edges=edges, width=width, height=height, task_count=len(by_id))


def _order_rows(columns: list[list[str]], deps: Mapping[str, list[str]]) -> list[list[str]]:
    """One barycentre pass: sort each column by the mean row of its dependencies, so
    edges mostly run straight and cross less. Ties (and roots) keep id order."""
    row_of: dict[str, int] = {}
    ordered: list[list[str]] = []
    for ids in columns:
        def weight(task_id: str) -> float:
            rows = [row_of[d] for d in deps[task_id] if d in row_of]
            return sum(rows) / len(rows) if rows else 0.0

        column = sorted(ids, key=lambda t: (weight(t), t))
        row_of.update({t: i for i, t in enumerate(column)})
        ordered.append(column)
    return ordered


def _curve(source: Node, target: Node) -> str:
    x1, y1 = source.x + source.width, source.y + source.height // 2
    x2, y2 = target.x, target.y + target.height // 2
    bend = (x2 - x1) // 2
    return f"M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, {x2} {y2}"
