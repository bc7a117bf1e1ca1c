"""Tools for the example job's ``command`` tasks: they analyse this repository offline.

Each prints its result (JSON or Markdown) on stdout, which becomes the task's output.
A relative path argument is taken relative to the repository root, so the example job
JSON works from anywhere."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "__pycache__", ".local", "node_modules", ".pytest_cache", "staticfiles", "test-results"}


def repo_path(arg: str | None) -> Path:
    path = Path(arg or ".")
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def walk_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def package_of(root: Path, path: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else "(top level)"
