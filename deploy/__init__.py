"""Deployment to AWS: stacks in order, Zappa settings per stage (python -m deploy STAGE)."""

from __future__ import annotations

from pathlib import Path


def write_private(text: str, path: Path) -> Path:
    """Write a file only its owner can read (stage settings, workers' environment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path
