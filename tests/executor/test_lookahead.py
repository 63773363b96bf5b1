"""The look-ahead check of vectorized strategies, through real plugin processes, in both SDKs (Python
`on_batch`, TypeScript `onBatch`): a planted peek at the next candle is caught on every run, its honest
twin never is, the check never changes trades, and state the TypeScript SDK cannot copy is left alone."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry
from plughost.transport.process import node_runner

from tests.helpers import make_plugin, random_walk_candles, warnings_of

LANGUAGES = ["python", pytest.param("javascript", marks=[
    pytest.mark.node, pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)")])]

# An SMA(5)/SMA(20) crossover on closes; PEEK shifts the closes one candle back, so the decision at
# candle i uses candle i+1's close: the classic vectorized look-ahead bug.
PY_STRATEGY = """
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

# The same in plain JavaScript (the runner loads it; no SDK import needed). STATE in plain fields (checked)
# or in #private fields, which the SDK cannot copy (never checked, never changed).
JS_STRATEGY = """
const PEEK = {peek};

class Cross {{
  {fields}
  initialize() {{ this.{tail} = []; this.{prev} = NaN; }}

  onBatch(batch) {{
    const close = Array.from(batch.close, (c, i) => (PEEK ? (batch.close[i + 1] ?? NaN) : c));
    const data = [...this.{tail}, ...close];
    const mean = (k, w) => {{
      let sum = 0;
      for (let j = Math.max(0, k - w + 1); j <= k; j++) sum += data[j];
      return sum / w;
    }};
    const out = [];
    let prev = this.{prev};
    for (let i = 0, k = data.length - close.length; i < close.length; i++, k++) {{
      const diff = mean(k, 5) - mean(k, 20);
      if (prev <= 0 && diff > 0) out.push({{ type: 'entry', at: i }});
      if (prev >= 0 && diff < 0) out.push({{ type: 'exit', at: i }});
      prev = diff;
    }}
    this.{tail} = data.slice(-25);
    this.{prev} = prev;
    return out;
  }}
}}

module.exports = Cross;
"""


def _source(language: str, peek: bool, private: bool = False) -> str:
    if language == "python":
        return PY_STRATEGY.format(peek=peek)
    names = {"tail": "#tail", "prev": "#prev"} if private else {"tail": "tail", "prev": "prev"}
    fields = "#tail = []; #prev = NaN;" if private else ""
    return JS_STRATEGY.format(peek="true" if peek else "false", fields=fields, **names)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Path]:
    tmp = tmp_path_factory.mktemp("lookahead")
    for language in ("python", "javascript"):
        for role, peek in (("peeker", True), ("honest", False)):
            make_plugin(tmp / "plugins", f"{role}-{language}", _source(language, peek), language=language)
    make_plugin(tmp / "plugins", "private-peeker-javascript", _source("javascript", True, private=True),
                language="javascript")
    random_walk_candles(tmp / "c.parquet", 3000)
    return Registry.discover([tmp / "plugins"], use_cache=False), tmp


def _run(setup: tuple[Registry, Path], strategy: str, run_id: str, **keys: object):  # type: ignore[no-untyped-def]
    registry, tmp = setup
    config = RunConfig.parse({"strategy": strategy, "candles": str(tmp / "c.parquet"), **keys})
    out = run_backtest(config, registry=registry, out_dir=tmp / "out", run_id=f"{strategy}-{run_id}")
    assert out.status == "ok", out.error
    return out


def _flagged(outcome) -> list[dict]:  # type: ignore[no-untyped-def]
    return warnings_of(outcome, "LOOKAHEAD_SUSPECTED")


def _trades(outcome) -> list[dict]:  # type: ignore[no-untyped-def]
    return pq.read_table(outcome.run_dir / "trades.parquet").to_pylist()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("batch_size", [250, 1000, 8192])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_a_planted_peek_is_caught_every_time(setup, language: str, batch_size: int, seed: str) -> None:
    out = _run(setup, f"peeker-{language}", f"peek-{seed}-{batch_size}", batch_size=batch_size)
    (warning,) = _flagged(out)
    assert warning["plugin"] == f"peeker-{language}" and warning["symbol"] == "c" and warning["timestamp"] > 0
    assert "shift(-1)" in warning["hint"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("batch_size", [250, 1000, 8192])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_an_honest_strategy_is_never_flagged_and_the_check_changes_no_trade(setup, language: str, batch_size: int,
                                                                          seed: str) -> None:
    checked = _run(setup, f"honest-{language}", f"h-{seed}-{batch_size}", batch_size=batch_size)
    assert _flagged(checked) == []
    unchecked = _run(setup, f"honest-{language}", f"u-{seed}-{batch_size}", batch_size=batch_size,
                     lookahead_check=False)
    assert _trades(checked) == _trades(unchecked) and len(_trades(checked)) > 20


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_check_can_be_turned_off(setup, language: str) -> None:
    assert _flagged(_run(setup, f"peeker-{language}", "off", lookahead_check=False)) == []


@pytest.mark.node
@pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)")
def test_private_state_is_not_checked_and_not_changed(setup) -> None:
    checked = _run(setup, "private-peeker-javascript", "on", batch_size=250)
    assert _flagged(checked) == []
    unchecked = _run(setup, "private-peeker-javascript", "off", batch_size=250, lookahead_check=False)
    assert _trades(checked) == _trades(unchecked) and len(_trades(checked)) > 20
