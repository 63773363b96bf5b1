"""Honest data and declared indicators through a whole run: real plugin processes, real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from plughost.executor.engine import run_backtest
from plughost.executor.indicators import compute_indicators, parse_indicators
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

SECS0 = 1_704_067_200
RECORDER = """import json, os
from plughost_sdk import StrategyPlugin


class Recorder(StrategyPlugin):
    def initialize(self, config):
        self.out = open(config["out"], "w")

    def on_candle(self, candle, ctx):
        vals = {k: ctx.indicators[k] for k in ("bb.upper", "bb.middle", "bb.lower", "m.line", "m.signal",
                                               "m.histogram", "sd")}
        self.out.write(json.dumps([candle.symbol, candle.timestamp, vals]) + "\\n")
        return None

    def on_exit(self, ctx):
        self.out.close()
"""
DECLARED = {"bb": {"type": "bbands", "period": 5, "k": 1.5}, "m": {"type": "macd", "fast": 2, "slow": 4, "signal": 3}}


def recorder(root: Path) -> Path:
    folder = root / "recorder"
    folder.mkdir(parents=True)
    (folder / "strategy.py").write_text(RECORDER)
    (folder / "plugin.json").write_text(json.dumps({
        "name": "recorder", "version": "1.0.0", "type": "strategy", "language": "python",
        "entry": "strategy.py", "indicators": {**DECLARED, "sd": {"type": "sma", "period": 2}}}))
    return root


def three_symbols(path: Path) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    per: dict[str, dict[str, np.ndarray]] = {}
    parts = []
    for k, name in enumerate(["SOL", "BTC", "ETH"]):
        minutes = np.sort(rng.choice(80, size=50 - 5 * k, replace=False))
        close = 10.0 ** (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.01, len(minutes))))
        d = {"Date": SECS0 + minutes.astype(np.int64) * 60, "Open": close, "High": close * 1.01,
             "Low": close * 0.99, "Close": close, "Volume": np.ones(len(close))}
        per[name] = d
        parts.append(pa.table({**d, "Symbol": [name] * len(close)}))
    t = pa.concat_tables(parts)
    pq.write_table(t.take(np.argsort(t.column("Date").to_numpy(), kind="stable")), path)
    return per


def test_seconds_aliases_and_declared_indicators_per_symbol(tmp_path: Path) -> None:
    per = three_symbols(tmp_path / "c.parquet")
    root = recorder(tmp_path / "plugins")
    seen = tmp_path / "seen.jsonl"
    # the run overrides the declared "sd" (an sma) with a real stddev: the run wins on a name clash
    config = RunConfig.parse({"strategy": "recorder", "candles": str(tmp_path / "c.parquet"),
                              "config": {"out": str(seen)}, "indicators": {"sd": {"type": "stddev", "period": 3}},
                              "batch_size": 7})
    out = run_backtest(config, registry=Registry.discover([root], use_cache=False), out_dir=tmp_path / "out",
                       run_id="r")
    assert out.status == "ok", out.error
    summary: dict[str, Any] = json.loads((out.run_dir / "summary.json").read_text())  # type: ignore[union-attr]
    assert summary["timestamp_unit"] == "s"
    rows = [json.loads(line) for line in seen.read_text().splitlines()]
    # one stream: (timestamp, symbol name) order, timestamps in ms
    keys = [(ts, sym) for sym, ts, _ in rows]
    assert keys == sorted(keys) and len(rows) == sum(len(d["Close"]) for d in per.values())
    specs = parse_indicators({**DECLARED, "sd": {"type": "stddev", "period": 3}})
    for name, d in per.items():
        want = compute_indicators(specs, d["High"], d["Low"], d["Close"])
        mine = [(ts, vals) for sym, ts, vals in rows if sym == name]
        assert [ts for ts, _ in mine] == (d["Date"] * 1000).tolist()
        for key, col in want.items():
            got = np.array([np.nan if v[key] is None else v[key] for _, v in mine], dtype=np.float64)
            np.testing.assert_array_equal(got, col, err_msg=f"{name} {key}")
