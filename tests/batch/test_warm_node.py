"""A batch of Node runs with warm starts: every run in a process of its own (a spare started ahead of
time), with results identical to cold starts and no module state carried from one run to the next."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from plughost.batch import load_batch, run_batch
from plughost.plugins.registry import Registry
from plughost.transport.process import node_runner

from .conftest import PLUGINS, cli, load_results, tagged_processes, wait_gone, write_batch

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)"),
]


def test_node_runs_with_warm_starts_match_cold_and_start_fresh(tmp_path: Path, data_dir: Path) -> None:
    results = {}
    logs = {}
    for warm in (False, True):
        log = tmp_path / f"starts-{warm}.log"
        runs = [{"id": f"r{i}-{n}", "strategy": "toy-js", "candles": str(data_dir / f"c{i}.parquet"),
                 "config": {"n": n}} for i in range(2) for n in (5, 20, 40)]
        batch = write_batch(tmp_path / f"b-{warm}.json", {"batch": {"warm_starts": warm},
                                                          "defaults": {"env": {"TOY_JS_LOG": str(log)}},
                                                          "runs": runs})
        result = run_batch(load_batch(batch), tmp_path / f"out-{warm}", registry=Registry.discover([PLUGINS]),
                           workers=1)
        assert result.exit_code == 0, [r.error for r in result.rows if r.status != "ok"]
        results[warm] = load_results(result.out_dir)
        logs[warm] = [line.split() for line in log.read_text().splitlines()]
    assert len(results[True]) == 6 and results[True] == results[False]
    assert any(r["trades"] for r in results[True].values())
    for warm, lines in logs.items():
        assert len(lines) == 6 and len({pid for pid, _spare, _runs in lines}) == 6  # a process per run
        assert all(runs == "1" for _pid, _spare, runs in lines)  # each its process's first run
        # the worker's first Node start is cold and starts the spare; every later one is a spare
        assert [spare for _pid, spare, _runs in lines] == (["false"] + ["true"] * 5 if warm else ["false"] * 6)


def test_a_killed_batch_host_takes_its_node_plugins_spares_and_daemons_down(
        tmp_path: Path, data_dir: Path, kill_tree: Callable[[subprocess.Popen[str]], None]) -> None:
    base = 1000 + uuid.uuid4().int % 100_000  # unique `sleep` durations mark this test's daemons, one a run
    runs = [{"id": f"d{i}", "strategy": "toy-js", "candles": str(data_dir / "c0.parquet"),
             "config": {"n": 5 + i, "daemon": f"{base}.{i + 1}", "hold_ms": 1500}} for i in range(4)]
    batch = write_batch(tmp_path / "b.json", {"batch": {"warm_starts": True}, "runs": runs})
    tag = uuid.uuid4().hex
    proc = cli(batch, tmp_path / "out", "--workers", "1", tag=tag)
    kill_tree(proc)
    deadline = time.monotonic() + 60
    while not _daemons(f"{base}.2") and time.monotonic() < deadline:  # the second run: a spare's plugin
        time.sleep(0.05)
    assert _daemons(f"{base}.2"), proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
    runners = [p for p in tagged_processes(tag) if _is_node_runner(p)]
    assert len(runners) >= 2  # the run's plugin and the spare waiting for the next one
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not wait_gone(tag), "processes of the killed host survived it"
    killed = time.monotonic()
    while _daemons(f"{base}.") and time.monotonic() - killed < 5:
        time.sleep(0.1)
    assert not _daemons(f"{base}."), "a plugin's daemon outlived the batch host"


def _is_node_runner(proc: psutil.Process) -> bool:
    try:
        return any(arg.endswith("runner.js") for arg in proc.cmdline())
    except psutil.Error:
        return False


def _daemons(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmd = proc.info["cmdline"] or []
            if len(cmd) == 2 and cmd[0] == "sleep" and cmd[1].startswith(mark) and proc.info["status"] != "zombie":
                found.append(proc)
        except psutil.Error:
            continue
    return found
