"""Helpers shared by the registry tests (imported by module name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any


def manifest(name: str, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "type": "strategy",
        "language": "python",
        "entry": "main.py",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}
