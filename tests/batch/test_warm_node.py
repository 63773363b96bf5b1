"""A batch of Node runs with warm starts: every run in a process of its own (a spare started ahead of
time), with results identical to cold starts and no module state carried from one run to the next."""

from __future__ import annotations

from pathlib import Path

import pytest
from plughost.batch import load_batch, run_batch
from plughost.plugins.registry import Registry
from plughost.transport.process import node_runner

from .conftest import PLUGINS, load_results, write_batch

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
