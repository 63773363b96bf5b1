"""Batch test helpers: small candle files, batch files, a real `plughost` subprocess, result comparison."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).parent
PLUGINS = HERE / "fixtures" / "plugins"
REPO = HERE.parents[1]
PLUGHOST = Path(sys.executable).parent / "plughost"


def write_candles(path: Path, n: int, seed: int, volume: float = 100.0) -> Path:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    ts = 1_700_000_000_000 + 60_000 * np.arange(n, dtype=np.int64)
    pq.write_table(pa.table({"timestamp": ts, "open": open_, "high": high, "low": low, "close": close,
                             "volume": np.full(n, volume)}), path)
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("batch-data")
    for i in range(4):
        write_candles(d / f"c{i}.parquet", 600, seed=i)
    return d


def toml_value(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, dict) else "{ " + ", ".join(
        f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"


def write_batch(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1))
    return path


def load_results(out: Path, ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """run id -> {status, metrics, trades (list of rows), error code}: what must not depend on how the batch ran."""
    results = {}
    for run_dir in sorted((out / "runs").iterdir()):
        if run_dir.name.startswith(".") or (ids is not None and run_dir.name not in ids):
            continue
        summary = json.loads((run_dir / "summary.json").read_text())
        results[run_dir.name] = {
            "status": summary["status"], "metrics": summary["metrics"],
            "plugin_metrics": summary["plugin_metrics"],
            "code": (summary["error"] or {}).get("code"),
            "trades": pq.read_table(run_dir / "trades.parquet").to_pylist(),
            "equity": pq.read_table(run_dir / "equity.parquet").column("equity").to_pylist(),
        }
    return results


def cli(batch: Path, out: Path, *args: str, env: dict[str, str] | None = None, tag: str | None = None,
        fault: str | None = None, **kw: Any) -> subprocess.Popen[str]:
    """`plughost run --batch` in its own session; with `fault`, the test-only faulty_host.py (see there)."""
    full_env = {**os.environ, **(env or {})}
    if tag:
        full_env["PLUGHOST_TEST_TAG"] = tag
        full_env["PLUGHOST_HOST_SESSION"] = tag  # plugins are told the host's session, never its pid
    command = [sys.executable, str(HERE / "faulty_host.py"), fault] if fault else [str(PLUGHOST), "run"]
    return subprocess.Popen(
        [*command, "--batch", str(batch), "--out", str(out), "--plugins-dir", str(PLUGINS), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, start_new_session=True, **kw)


def tagged_processes(tag: str) -> list[psutil.Process]:
    """Processes of a `cli(..., tag=)` host: the host, its workers and reapers (they inherit the tag) and any
    plugin told the host session `tag` (PLUGHOST_HOST_SESSION; plugins never get the host's pid)."""
    found: list[psutil.Process] = []
    hosts: set[str] = set()
    procs = list(psutil.process_iter(["pid"]))
    envs: dict[int, dict[str, str]] = {}
    for p in procs:
        try:
            envs[p.pid] = p.environ()
        except psutil.Error:
            continue
    for p in procs:
        if envs.get(p.pid, {}).get("PLUGHOST_TEST_TAG") == tag:
            found.append(p)
            hosts.add(str(p.pid))
    for p in procs:
        if envs.get(p.pid, {}).get("PLUGHOST_HOST_SESSION") == tag and p not in found:
            found.append(p)
    return [p for p in found if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(tag: str, timeout: float = 5.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = tagged_processes(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = tagged_processes(tag)
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    return left


@pytest.fixture
def kill_tree() -> Iterator[Callable[[subprocess.Popen[str]], None]]:
    started: list[subprocess.Popen[str]] = []

    def register(proc: subprocess.Popen[str]) -> None:
        started.append(proc)

    yield register
    for proc in started:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
