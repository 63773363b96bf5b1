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


def random_walk_candles(path: Path, n: int, *, seed: int = 5) -> Path:
    """One symbol of `n` one-minute candles, a seeded random walk, as Parquet."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    pq.write_table(pa.table({"timestamp": 1_700_000_000_000 + np.arange(n) * 60_000, "open": open_,
                             "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998,
                             "close": close, "volume": np.ones(n)}), path)
    return path


def warnings_of(outcome: Any, code: str) -> list[dict[str, Any]]:
    """A run's summary.json warnings with this code."""
    return [w for w in outcome.summary["warnings"] if w["code"] == code]
