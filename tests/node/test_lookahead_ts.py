"""The look-ahead check of TypeScript-SDK onBatch strategies through real Node plugin processes, as
tests/executor/test_lookahead.py does for Python: a planted `close[i + 1]` is caught on every run, its
honest twin never is, the check never changes trades, and state the SDK cannot copy is left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry
from plughost.transport.process import node_runner

from tests.helpers import random_walk_candles, warnings_of

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)"),
]

# An SMA(5)/SMA(20) crossover on closes in plain JavaScript (the runner loads it; no SDK import needed).
# PEEK reads candle i+1's close for the decision at candle i: the classic vectorized look-ahead bug. STATE
# "fields" keeps the state in plain fields (checked); "private" in #private fields, which the SDK cannot
# copy (never checked, never changed).
STRATEGY = """
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


def make_plugin(root: Path, name: str, peek: bool, private: bool = False) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"name": name, "version": "1.0.0", "type": "strategy",
                                                    "language": "javascript", "entry": "index.js"}))
    names = {"tail": "#tail", "prev": "#prev"} if private else {"tail": "tail", "prev": "prev"}
    fields = "#tail = []; #prev = NaN;" if private else ""
    (folder / "index.js").write_text(STRATEGY.format(peek="true" if peek else "false", fields=fields, **names))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Path]:
    tmp = tmp_path_factory.mktemp("lookahead-ts")
    make_plugin(tmp / "plugins", "peeker-js", True)
    make_plugin(tmp / "plugins", "honest-js", False)
    make_plugin(tmp / "plugins", "private-peeker-js", True, private=True)
    random_walk_candles(tmp / "c.parquet", 3000)
    return Registry.discover([tmp / "plugins"], use_cache=False), tmp


def _run(setup: tuple[Registry, Path], strategy: str, run_id: str, **keys: object):  # type: ignore[no-untyped-def]
    registry, tmp = setup
    config = RunConfig.parse({"strategy": strategy, "candles": str(tmp / "c.parquet"), **keys})
    out = run_backtest(config, registry=registry, out_dir=tmp / "out", run_id=run_id)
    assert out.status == "ok", out.error
    return out


def _flagged(outcome) -> list[dict]:  # type: ignore[no-untyped-def]
    return warnings_of(outcome, "LOOKAHEAD_SUSPECTED")


def _trades(outcome) -> list[dict]:  # type: ignore[no-untyped-def]
    return pq.read_table(outcome.run_dir / "trades.parquet").to_pylist()


@pytest.mark.parametrize("batch_size", [250, 1000, 8192])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_a_planted_peek_is_caught_every_time(setup, batch_size: int, seed: str) -> None:
    out = _run(setup, "peeker-js", f"peek-{seed}-{batch_size}", batch_size=batch_size)
    (warning,) = _flagged(out)
    assert warning["plugin"] == "peeker-js" and warning["symbol"] == "c" and warning["timestamp"] > 0
    assert "shift(-1)" in warning["hint"]


@pytest.mark.parametrize("batch_size", [250, 1000, 8192])
@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_an_honest_strategy_is_never_flagged_and_the_check_changes_no_trade(setup, batch_size: int,
                                                                          seed: str) -> None:
    checked = _run(setup, "honest-js", f"h-{seed}-{batch_size}", batch_size=batch_size)
    assert _flagged(checked) == []
    unchecked = _run(setup, "honest-js", f"u-{seed}-{batch_size}", batch_size=batch_size, lookahead_check=False)
    assert _trades(checked) == _trades(unchecked) and len(_trades(checked)) > 20


def test_the_check_can_be_turned_off(setup) -> None:
    assert _flagged(_run(setup, "peeker-js", "off", lookahead_check=False)) == []


def test_private_state_is_not_checked_and_not_changed(setup) -> None:
    checked = _run(setup, "private-peeker-js", "private-on", batch_size=250)
    assert _flagged(checked) == []
    unchecked = _run(setup, "private-peeker-js", "private-off", batch_size=250, lookahead_check=False)
    assert _trades(checked) == _trades(unchecked) and len(_trades(checked)) > 20
