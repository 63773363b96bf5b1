"""Helpers shared by the test folders (import as `from tests.helpers import ...`).

`make_plugin` writes a plugin folder from inline source, pluggy-style: a test shows the whole plugin it
runs, and the plugin is real (a manifest, an entry file, its own process when run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ENTRY = {"python": "strategy.py", "javascript": "index.js"}


def make_plugin(root: Path, name: str, source: str, *, language: str = "python", type: str = "strategy",
                **manifest: Any) -> Path:
    """`root/name/` with plugin.json and the entry file holding `source`; extra manifest keys as keywords."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    entry = manifest.pop("entry", ENTRY[language])
    (folder / "plugin.json").write_text(json.dumps({"name": name, "version": "1.0.0", "type": type,
                                                    "language": language, "entry": entry, **manifest}))
    (folder / entry).write_text(source)
    return folder
