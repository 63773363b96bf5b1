"""The look-ahead check of on_batch strategies, through real plugin processes: a planted shift(-1) is
caught on every run, a strategy that only looks back never is, and the check never changes trades."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

from tests.helpers import random_walk_candles, warnings_of

# An SMA(5)/SMA(20) crossover on closes; PEEK shifts the closes one candle back, so the decision at
# candle i uses candle i+1's close: the classic vectorized look-ahead bug.
STRATEGY = """
import numpy as np
from plughost_sdk import Signal, StrategyPlugin

PEEK = {peek}

class Cross(StrategyPlugin):
    def initialize(self, config):
        self.tail = np.empty(0)

    def on_batch(self, batch, ctx):
        close = np.asarray(batch.close)
        if PEEK:
            close = np.r_[close[1:], np.nan]
        data = np.r_[self.tail, close]
        self.tail = data[-25:]
        fast = np.convolve(data, np.ones(5) / 5, "full")[: len(data)]
        slow = np.convolve(data, np.ones(20) / 20, "full")[: len(data)]
        diff = (fast - slow)[len(data) - len(close):]
        prev = np.r_[np.nan, diff[:-1]]
        out = [(int(i), Signal.entry()) for i in np.flatnonzero((prev <= 0) & (diff > 0))]
        out += [(int(i), Signal.exit()) for i in np.flatnonzero((prev >= 0) & (diff < 0))]
        return sorted(out, key=lambda p: p[0])
"""


def make_plugin(root: Path, name: str, peek: bool) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"name": name, "version": "1.0.0", "type": "strategy",
                                                    "language": "python", "entry": "strategy.py"}))
    (folder / "strategy.py").write_text(STRATEGY.format(peek=peek))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Registry, Path]:
    make_plugin(tmp_path / "plugins", "peeker-vec", True)
    make_plugin(tmp_path / "plugins", "honest-vec", False)
    random_walk_candles(tmp_path / "c.parquet", 3000)
    return Registry.discover([tmp_path / "plugins"], use_cache=False), tmp_path


def _run(setup: tuple[Registry, Path], strategy: str, run_id: str, **keys: object):  # type: ignore[no-untyped-def]
    registry, tmp = setup
    config = RunConfig.parse({"strategy": strategy, "candles": str(tmp / "c.parquet"), **keys})
    out = run_backtest(config, registry=registry, out_dir=tmp / "out", run_id=run_id)
    assert out.status == "ok", out.error
    return out


def _flagged(outcome) -> list[dict]:  # type: ignore[no-untyped-def]
    return warnings_of(outcome, "LOOKAHEAD_SUSPECTED")


@pytest.mark.parametrize("batch_size", [250, 1000, 8192])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_a_planted_shift_is_caught_every_time(setup, batch_size: int, seed: str) -> None:
    out = _run(setup, "peeker-vec", f"peek-{seed}-{batch_size}", batch_size=batch_size)
    (warning,) = _flagged(out)
    assert warning["plugin"] == "peeker-vec" and warning["symbol"] == "c" and warning["timestamp"] > 0
    assert "shift(-1)" in warning["hint"]


@pytest.mark.parametrize("batch_size", [250, 1000, 8192])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_an_honest_strategy_is_never_flagged_and_the_check_changes_no_trade(setup, batch_size: int,
                                                                          seed: str) -> None:
    checked = _run(setup, "honest-vec", f"h-{seed}-{batch_size}", batch_size=batch_size)
    assert _flagged(checked) == []
    unchecked = _run(setup, "honest-vec", f"u-{seed}-{batch_size}", batch_size=batch_size, lookahead_check=False)
    trades = [pq.read_table(o.run_dir / "trades.parquet").to_pylist() for o in (checked, unchecked)]
    assert trades[0] == trades[1] and len(trades[0]) > 20


def test_the_check_can_be_turned_off(setup) -> None:
    assert _flagged(_run(setup, "peeker-vec", "off", lookahead_check=False)) == []
