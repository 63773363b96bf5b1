"""Helpers for tests/security/: the real `plughost` command on small inputs, plus a plugins folder holding the
bundled plugins' copies and the security fixtures (`snoop`, `nanny`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
PLUGHOST = Path(sys.executable).parent / "plughost"
FIXTURE_PLUGINS = HERE / "fixtures" / "plugins"
BATCH_PLUGINS = REPO / "tests" / "batch" / "fixtures" / "plugins"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def assert_clean(self) -> None:
        """No traceback reached the user, whatever the exit status."""
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err[-3000:]


def plughost(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 180) -> Result:
    done = subprocess.run([str(PLUGHOST), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    return Result(done.returncode, done.stdout, done.stderr)


def write_candles(path: Path, n: int = 300, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    pq.write_table(pa.table({
        "timestamp": 1_700_000_000_000 + 60_000 * np.arange(n, dtype=np.int64), "open": open_,
        "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999, "close": close,
        "volume": np.full(n, 10.0)}), path)
    return path


@pytest.fixture(scope="session")
def candles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_candles(tmp_path_factory.mktemp("sec-data") / "SEC.parquet")


@pytest.fixture(scope="session")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """strategies/: snoop, toy, sma-cross, simple-ma (TypeScript); features/: nanny, tally, custom-metrics."""
    root = tmp_path_factory.mktemp("sec-plugins")
    shutil.copytree(FIXTURE_PLUGINS, root, dirs_exist_ok=True)
    shutil.copytree(BATCH_PLUGINS, root, dirs_exist_ok=True)
    for kind, name in (("strategies", "sma-cross"), ("strategies", "simple-ma"), ("features", "custom-metrics")):
        shutil.copytree(REPO / "plugins" / kind / name, root / kind / name, symlinks=True,
                        ignore=shutil.ignore_patterns("node_modules"))
    return root


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A private PLUGHOST_HOME (state and caches) for the command."""
    return {"PLUGHOST_HOME": str(tmp_path / "home")}


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()
