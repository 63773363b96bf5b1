"""The executor end to end: real plugin processes, real Parquet/CSV files, real result folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plughost.executor.engine import RunOutcome, run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

from tests.helpers import make_plugin

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "plugins"
T0 = 1_700_000_000_000
MIN = 60_000


def write_candles(path: Path, rows: list[tuple[float, float, float, float]], symbol: str | None = None,
                  start: int = T0) -> list[int]:
    ts = [start + i * MIN for i in range(len(rows))]
    cols: dict[str, Any] = {"timestamp": ts, "open": [r[0] for r in rows], "high": [r[1] for r in rows],
                            "low": [r[2] for r in rows], "close": [r[3] for r in rows], "volume": [1.0] * len(rows)}
    if symbol:
        cols["symbol"] = [symbol] * len(rows)
    pq.write_table(pa.table(cols), path)
    return ts


def random_walk(path: Path, n: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    pq.write_table(pa.table({
        "timestamp": T0 + np.arange(n, dtype=np.int64) * MIN, "open": open_,
        "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998, "close": close,
        "volume": np.ones(n)}), path)


def run(tmp_path: Path, strategy: str, candles: Path, run_id: str = "r", **kwargs: Any) -> RunOutcome:
    registry = Registry.discover([FIXTURES, REPO / "plugins", REPO / "bench" / "plugins"], use_cache=False)
    config = RunConfig.parse({"strategy": strategy, "candles": str(candles), **kwargs})
    return run_backtest(config, registry=registry, out_dir=tmp_path / "out", run_id=run_id)


def trades(outcome: RunOutcome) -> list[dict[str, Any]]:
    assert outcome.run_dir is not None
    return pq.read_table(outcome.run_dir / "trades.parquet").to_pylist()


BARS = [(10.0, 12.0, 9.0, 11.0), (11.0, 13.0, 10.0, 12.5), (12.5, 13.0, 11.0, 11.5), (11.5, 14.0, 11.0, 13.0)]


def test_result_files_and_summary_fields(tmp_path):
    ts = write_candles(tmp_path / "c.parquet", BARS)
    out = run(tmp_path, "scripted", tmp_path / "c.parquet",
              config={"candles": {str(ts[0]): ["entry"], str(ts[2]): ["exit"]}})
    assert out.status == "ok", out.error
    summary = json.loads((out.run_dir / "summary.json").read_text())
    for key in ("run_id", "status", "strategy", "config", "error", "metrics", "plugin_metrics",
                "ignored_signals", "rejected_signals"):
        assert key in summary
    assert summary["error"] is None and summary["strategy"] == "scripted"
    for key in ("num_trades", "total_pnl", "return_pct", "win_rate", "max_drawdown", "sharpe"):
        assert key in summary["metrics"]
    assert summary["plugins"]["scripted"]["calls"]["candles"]["calls"] == 1
    assert summary["expired_orders"] == 0 and summary["timestamp_unit"] in ("ms", None)
    equity = pq.read_table(out.run_dir / "equity.parquet")
    assert equity.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert equity.column("timestamp").cast(pa.int64()).to_pylist() == ts
    assert equity.column("equity").to_pylist()[-1] == pytest.approx(10_000 + 0.5)
    (trade,) = trades(out)
    # decided on candle 0 and candle 2, filled at the next candles' opens (11.0 and 11.5)
    assert (trade["side"], trade["entry_price"], trade["exit_price"], trade["fees"]) == ("long", 11.0, 11.5, 0.0)
    assert trade["exit_reason"] == f"candle {ts[2]}:1@11"
    table = pq.read_table(out.run_dir / "trades.parquet")
    assert table.schema.field("entry_time").type == pa.timestamp("ms", tz="UTC")
    assert table.column("entry_time").cast(pa.int64()).to_pylist() == [ts[1]]


# Each row: candles script, alerts, run keys, expected trades [(entry, exit, size, exit_reason)], ignored, rejected.
# BARS' opens equal the previous closes, so market orders decided on candle i fill at close[i] == open[i+1].
# Every rule is pinned in detail by protocol/vectors/orders.json; these run them through real processes.
FILL_CASES = {
    "close_fill_and_end_of_data": ({0: ["entry"]}, {}, {}, [(11.0, 13.0, 1.0, "end_of_data")], 0, 0),
    "entry_while_long_ignored": ({0: ["entry"], 1: ["entry"], 2: ["exit"]}, {}, {}, [(11.0, 11.5, 1.0, None)], 1, 0),
    "exit_while_flat_ignored": ({0: ["exit"], 3: ["exit"]}, {}, {}, [], 2, 0),
    "limit_not_reached_expires": ({0: ["entry", 9.0], 1: ["exit", 13.0]}, {}, {}, [], 1, 0),
    "limit_buy_gapped_fills_at_open": ({0: ["entry", 12.01], 1: ["entry", 10.5]}, {}, {},
                                       [(11.0, 13.0, 1.0, "end_of_data")], 1, 0),
    "limit_sell_below_open_fills_at_open": ({0: ["entry", 12.0], 1: ["exit", 10.0]}, {}, {},
                                            [(11.0, 12.5, 1.0, None)], 0, 0),
    "limit_inside_range_fills_at_price": ({0: ["entry", 10.5], 1: ["exit", 12.9]}, {}, {},
                                          [(10.5, 12.9, 1.0, None)], 0, 0),
    "stop_loss_live_on_the_open_fill_candle": ({0: {"type": "entry", "stop_loss": 10.5}}, {}, {},
                                               [(11.0, 10.5, 1.0, "stop_loss")], 0, 0),
    "short_entry_and_cover": ({0: {"type": "entry", "side": "short"}, 1: ["exit"]}, {}, {},
                              [(11.0, 12.5, 1.0, None)], 0, 0),
    "insufficient_cash_rejected": ({0: ["entry", None, 5000.0]}, {}, {}, [], 0, 1),
    "partial_exit_then_rest": ({0: ["entry", None, 2.0], 1: ["exit", None, 0.5], 2: ["exit"]}, {}, {},
                               [(11.0, 12.5, 0.5, None), (11.0, 11.5, 1.5, None)], 0, 0),
    "oversized_exit_closes_all": ({0: ["entry"], 1: ["exit", None, 5.0]}, {}, {}, [(11.0, 12.5, 1.0, None)], 0, 0),
    "default_size_from_run": ({0: ["entry"], 1: ["exit"]}, {}, {"size": 3.0}, [(11.0, 12.5, 3.0, None)], 0, 0),
    "alert_with_price": ({}, {"a1": (1, 10.5, ["entry"])}, {}, [(10.5, 13.0, 1.0, "end_of_data")], 0, 0),
    "alert_without_price_fills_next_open": ({}, {"a1": (1, None, ["entry"])}, {},
                                            [(11.0, 13.0, 1.0, "end_of_data")], 0, 0),
    "alert_after_last_candle_dropped": ({}, {"a1": (9, None, ["entry"])}, {}, [], 0, 0),
    "alert_limit_gapped_fills_at_next_open": ({}, {"a1": (1, None, ["entry", 13.5])}, {},
                                              [(11.0, 13.0, 1.0, "end_of_data")], 0, 0),
}


@pytest.mark.parametrize("case", FILL_CASES, ids=list(FILL_CASES))
def test_fill_rules(tmp_path, case):
    script, alerts, run_keys, expected, ignored, rejected = FILL_CASES[case]
    ts = write_candles(tmp_path / "c.parquet", BARS, symbol="X")
    config: dict[str, Any] = {"candles": {str(ts[i]): s for i, s in script.items()}, "alerts": {}}
    extra: dict[str, Any] = {}
    if alerts:
        rows = []
        for alert_id, (minute, price, signal) in alerts.items():
            # minute 1 -> 30 s before candle 1 opens: delivered before candle 1
            rows.append({"id": alert_id, "timestamp": T0 + minute * MIN - 30_000, "symbol": "X", "price": price})
            config["alerts"][alert_id] = signal
        (tmp_path / "alerts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        extra["alerts"] = str(tmp_path / "alerts.jsonl")
    out = run(tmp_path, "scripted", tmp_path / "c.parquet", config=config, **run_keys, **extra)
    assert out.status == "ok", out.error
    got = [(t["entry_price"], t["exit_price"], t["size"], t["exit_reason"]) for t in trades(out)]
    want = [(e, x, s, r if r in ("end_of_data", "stop_loss") else got[i][3]) for i, (e, x, s, r) in enumerate(expected)]
    assert got == want
    assert (out.summary["ignored_signals"], out.summary["rejected_signals"]) == (ignored, rejected)


def test_alert_comes_before_the_candle_of_the_same_timestamp(tmp_path):
    ts = write_candles(tmp_path / "c.parquet", BARS, symbol="X")
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "same", "timestamp": ts[2], "symbol": "X"}) + "\n")
    # the alert enters at candle 2's open (12.5); the candle-2 exit then sees the position the alert opened
    out = run(tmp_path, "scripted", tmp_path / "c.parquet", alerts=str(tmp_path / "a.jsonl"),
              config={"alerts": {"same": ["entry"]}, "candles": {str(ts[2]): ["exit"]}})
    assert [(t["entry_price"], t["exit_price"], t["exit_reason"]) for t in trades(out)] == [
        (12.5, 11.5, f"candle {ts[2]}:1@12.5")]


def test_fees_per_side_on_notional(tmp_path):
    ts = write_candles(tmp_path / "c.parquet", BARS)
    out = run(tmp_path, "scripted", tmp_path / "c.parquet", fee_bps=100.0, size=2.0,
              config={"candles": {str(ts[0]): ["entry"], str(ts[1]): ["exit"]}})
    (trade,) = trades(out)
    gross = (12.5 - 11.0) * 2
    fees = 0.01 * (11.0 * 2) + 0.01 * (12.5 * 2)
    assert trade["pnl"] == pytest.approx(gross - fees)
    assert out.summary["metrics"]["total_pnl"] == pytest.approx(gross - fees)


@pytest.mark.parametrize("strategy", ["sma-cross", "bench-sma-ind", "bench-sma-ind-vec"])
def test_batch_size_never_changes_trades(tmp_path, strategy):
    random_walk(tmp_path / "c.parquet", 3000)
    indicators = {"fast": {"type": "sma", "period": 10}, "slow": {"type": "sma", "period": 30}}
    results = []
    for size in (1, 7, 1000, 8192):
        out = run(tmp_path, strategy, tmp_path / "c.parquet", batch_size=size, indicators=indicators,
                  run_id=f"b{size}")
        assert out.status == "ok", out.error
        results.append(trades(out))
    assert len(results[0]) > 10
    assert all(r == results[0] for r in results[1:])


def test_batch_size_invariance_with_alerts(tmp_path):
    random_walk(tmp_path / "c.parquet", 500)
    rng = np.random.default_rng(3)
    minutes = sorted(rng.choice(500, 40, replace=False).tolist())
    rows = [{"id": f"a{m}", "timestamp": T0 + m * MIN - (0 if m % 2 else 15_000), "symbol": "c",
             "price": None} for m in minutes]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    script = {f"a{m}": (["entry"] if i % 2 == 0 else ["exit"]) for i, m in enumerate(minutes)}
    outs = [trades(run(tmp_path, "scripted", tmp_path / "c.parquet", alerts=str(tmp_path / "a.jsonl"),
                       config={"alerts": script}, batch_size=size, run_id=f"s{size}")) for size in (1, 7, 64, 8192)]
    assert len(outs[0]) >= 15
    assert all(o == outs[0] for o in outs[1:])


def test_strategy_never_sees_a_later_candle(tmp_path):
    random_walk(tmp_path / "c.parquet", 1500)
    for size in (1, 7, 1000):
        out = run(tmp_path, "peeker", tmp_path / "c.parquet", batch_size=size, history=50, run_id=f"p{size}")
        assert out.status == "ok", out.error


def test_look_ahead_guard_would_catch_a_leaky_history(tmp_path, monkeypatch):
    """The peeker is a real detector: make history leak one candle and it must fail the run."""
    random_walk(tmp_path / "c.parquet", 50)
    plugin = tmp_path / "leaky" / "peeker"
    plugin.mkdir(parents=True)
    (plugin / "plugin.json").write_text((FIXTURES / "peeker" / "plugin.json").read_text())
    source = (FIXTURES / "peeker" / "strategy.py").read_text()
    leak = ("from plughost_sdk import _context\n"
            "_get = _context.History.__getitem__\n"
            "_context.History.__getitem__ = lambda self, i: (\n"
            "    self._items[self._start + i] if isinstance(i, int) and i >= 0 else _get(self, i))\n")
    (plugin / "strategy.py").write_text(leak + source)
    registry = Registry.discover([tmp_path / "leaky"], use_cache=False)
    out = run_backtest(RunConfig.parse({"strategy": "peeker", "candles": str(tmp_path / "c.parquet")}),
                       registry=registry, out_dir=tmp_path / "out", run_id="leak")
    assert out.status == "failed" and out.summary["error"]["code"] == "PLUGIN_ERROR"
    assert "looked ahead" in out.summary["error"]["message"]


def test_multi_symbol_csv_each_symbol_its_own_stream(tmp_path):
    lines = ["timestamp,symbol,open,high,low,close,volume"]
    for i, (o, h, lo, c) in enumerate(BARS):
        lines.append(f"{T0 + i * MIN},AAA,{o},{h},{lo},{c},1")
        lines.append(f"{T0 + i * MIN},BBB,{o * 2},{h * 2},{lo * 2},{c * 2},1")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    out = run(tmp_path, "scripted", tmp_path / "m.csv", config={"candles": {str(T0): ["entry"]}})
    got = sorted((t["symbol"], t["entry_price"], t["exit_price"]) for t in trades(out))
    assert got == [("AAA", 11.0, 13.0), ("BBB", 22.0, 26.0)]
    assert out.summary["symbols"] == ["AAA", "BBB"]
    equity = pq.read_table(out.run_dir / "equity.parquet").to_pydict()
    assert equity["equity"][-1] == pytest.approx(10_000 + 2.0 + 4.0)


def test_bad_data_fails_the_run_naming_file_row_column(tmp_path):
    (tmp_path / "bad.csv").write_text("timestamp,open,high,low,close,volume\n1,1,2,0.5,1,1\n2,1,2,0.5,nan,1\n")
    out = run(tmp_path, "sma-cross", tmp_path / "bad.csv")
    assert out.status == "failed"
    error = out.summary["error"]
    assert error["code"] == "DATA_INVALID" and "bad.csv" in error["message"] and error["column"] == "close"
    assert (out.run_dir / "summary.json").exists()


def test_bad_data_is_the_error_reported_when_the_strategy_also_fails_to_start(tmp_path):
    """The data is opened while the strategy starts (a thread): the data's error is still the one a user
    sees first, as when the data was opened before the start; a good file with the same plugin fails on it."""
    make_plugin(tmp_path / "plugins", "broken-import", "raise RuntimeError('broken on import')\n")
    (tmp_path / "bad.csv").write_text("timestamp,open,high,low,close,volume\n1,1,2,0.5,1,1\n2,1,2,0.5,-1,1\n")
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    for candles, code in (("bad.csv", "DATA_INVALID"), ("good.parquet", "PLUGIN_LOAD_FAILED")):
        if candles == "good.parquet":
            write_candles(tmp_path / candles, BARS)
        config = RunConfig.parse({"strategy": "broken-import", "candles": str(tmp_path / candles)})
        out = run_backtest(config, registry=registry, out_dir=tmp_path / "out", run_id=code.lower().replace("_", "-"))
        assert out.status == "failed" and out.summary["error"]["code"] == code, out.summary["error"]


def test_async_plugin_methods_are_awaited_and_book_what_their_sync_twin_books(tmp_path):
    """`async def` initialize/on_candle run on the SDK's event loop (asyncio is imported only for them)."""
    source = (REPO / "plugins" / "strategies" / "sma-cross" / "strategy.py").read_text()
    twin = source.replace("    def initialize(", "    async def initialize(").replace(
        "    def on_candle(", "    async def on_candle(").replace('name = "sma-cross"', 'name = "sma-cross-async"')
    assert twin.count("async def") == 2 and "sma-cross-async" in twin
    original = REPO / "plugins" / "strategies" / "sma-cross"
    manifest = json.loads((original / "plugin.json").read_text())
    pdir = make_plugin(tmp_path / "plugins", "sma-cross-async", twin, configSchema=manifest["configSchema"])
    (pdir / manifest["configSchema"]).write_bytes((original / manifest["configSchema"]).read_bytes())
    random_walk(tmp_path / "c.parquet", 3000)
    registry = Registry.discover([tmp_path / "plugins", REPO / "plugins"], use_cache=False)
    got = {}
    for name in ("sma-cross", "sma-cross-async"):
        config = RunConfig.parse({"strategy": name, "candles": str(tmp_path / "c.parquet"), "batch_size": 700})
        out = run_backtest(config, registry=registry, out_dir=tmp_path / "out", run_id=name)
        assert out.status == "ok", out.summary["error"]
        got[name] = trades(out)
    assert got["sma-cross"] and got["sma-cross"] == got["sma-cross-async"]


ALERT_TWINS = {
    "alerts-per-candle": """
from plughost_sdk import Signal, StrategyPlugin

class Twin(StrategyPlugin):
    def on_alert(self, alert, ctx):
        return Signal.entry(reason=alert.id) if alert.data["action"] == "buy" else Signal.exit(reason=alert.id)

    def on_candle(self, candle, ctx):
        return Signal.exit(reason="late") if candle.close > 112 else None
""",
    "alerts-on-batch": """
from plughost_sdk import Signal, StrategyPlugin

class Twin(StrategyPlugin):
    def on_batch(self, batch, ctx):
        out = [(a, Signal.entry(reason=a["id"]) if a["data"]["action"] == "buy" else Signal.exit(reason=a["id"]))
               for a in batch.alerts]
        out += [(i, Signal.exit(reason="late")) for i in range(batch.n) if batch.close[i] > 112]
        return out
""",
    "alerts-foreign": """
from plughost_sdk import Signal, StrategyPlugin

class Twin(StrategyPlugin):
    def on_batch(self, batch, ctx):
        return [({"at": 0, "id": "made-up"}, Signal.entry())]
""",
}


def test_on_batch_answers_alerts_as_on_alert_does(tmp_path):
    """An on_batch strategy answers an alert by giving the alert itself (one of `batch.alerts`) in place
    of a candle index; its trades equal its per-candle twin's for any batch size."""
    for name, body in ALERT_TWINS.items():
        make_plugin(tmp_path / "plugins", name, body)
    random_walk(tmp_path / "c.parquet", 400, seed=3)
    rng = np.random.default_rng(4)
    minutes = sorted(rng.choice(400, 40, replace=False).tolist())
    rows = [{"id": f"a{i}", "timestamp": T0 + m * MIN + 30_000, "symbol": "c",
             "action": "buy" if i % 2 == 0 else "sell"} for i, m in enumerate(minutes)]
    (tmp_path / "alerts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)

    def booked(name: str, batch_size: int) -> RunOutcome:
        config = RunConfig.parse({"strategy": name, "candles": str(tmp_path / "c.parquet"),
                                  "alerts": str(tmp_path / "alerts.jsonl"), "batch_size": batch_size})
        return run_backtest(config, registry=registry, out_dir=tmp_path / "out", run_id=f"{name}-{batch_size}")

    reference = trades(booked("alerts-per-candle", 64))
    assert len(reference) > 5 and any(t["entry_reason"].startswith("a") for t in reference)
    for size in (1, 7, 64, 8192):
        assert trades(booked("alerts-on-batch", size)) == reference
    foreign = booked("alerts-foreign", 64)
    assert foreign.status == "failed" and foreign.summary["error"]["code"] == "PLUGIN_ERROR"
    assert "not one of this batch's `batch.alerts`" in foreign.summary["error"]["message"]


def test_crashing_strategy_leaves_a_failed_summary_and_no_process(tmp_path):
    pdir = tmp_path / "plugins" / "crasher"
    pdir.mkdir(parents=True)
    (pdir / "plugin.json").write_text(json.dumps({"name": "crasher", "version": "1.0.0", "type": "strategy",
                                                  "language": "python", "entry": "s.py"}))
    (pdir / "s.py").write_text("import os\nfrom plughost_sdk import StrategyPlugin\n\nclass C(StrategyPlugin):\n"
                               "    def on_candle(self, candle, ctx):\n        os._exit(9)\n")
    write_candles(tmp_path / "c.parquet", BARS)
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    out = run_backtest(RunConfig.parse({"strategy": "crasher", "candles": str(tmp_path / "c.parquet")}),
                       registry=registry, out_dir=tmp_path / "out", run_id="crash")
    assert out.status == "failed"
    assert out.summary["error"]["code"] == "PLUGIN_CRASHED" and out.summary["error"]["exit_code"] == 9
    assert out.summary["error"]["plugin"] == "crasher"


@pytest.mark.parametrize("strategy", ["bench-sma-ind", "bench-sma-ind-vec", "bench-sma-ind-js"])
def test_pipelined_batches_larger_than_the_pipe_give_the_same_trades(tmp_path, strategy):
    """Batches of 40,000 candles (~2.6 MB frames, above the 1 MiB pipe) are sent while the plugin is busy
    with the previous one: the host writes what fits and keeps reading, nothing stalls or reorders."""
    if strategy.endswith("-js") and not (REPO / "sdk-typescript" / "dist" / "runner.js").is_file():
        pytest.skip("TypeScript SDK not built")
    random_walk(tmp_path / "c.parquet", 100_000)
    indicators = {"fast": {"type": "sma", "period": 10}, "slow": {"type": "sma", "period": 30}}
    results = []
    for size in (8192, 40_000):
        out = run(tmp_path, strategy, tmp_path / "c.parquet", batch_size=size, indicators=indicators,
                  run_id=f"big{size}")
        assert out.status == "ok", out.error
        assert out.summary["plugins"][strategy]["calls"]["candles"]["calls"] == -(-100_000 // size)
        results.append(trades(out))
    assert len(results[0]) > 100
    assert results[1] == results[0]


def test_crash_while_the_next_big_batch_is_queued_is_reported_and_leaves_no_process(tmp_path):
    """The plugin dies in batch 2 while batch 3 (larger than the pipe) waits in the host's queue."""
    pdir = tmp_path / "plugins" / "late-crasher"
    pdir.mkdir(parents=True)
    (pdir / "plugin.json").write_text(json.dumps({"name": "late-crasher", "version": "1.0.0", "type": "strategy",
                                                  "language": "python", "entry": "s.py"}))
    (pdir / "s.py").write_text("import os\nfrom plughost_sdk import StrategyPlugin\n\nclass C(StrategyPlugin):\n"
                               "    n = 0\n    def on_candle(self, candle, ctx):\n        self.n += 1\n"
                               "        if self.n == 50_000:\n            os._exit(7)\n")
    random_walk(tmp_path / "c.parquet", 120_000)
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    out = run_backtest(RunConfig.parse({"strategy": "late-crasher", "candles": str(tmp_path / "c.parquet"),
                                        "batch_size": 40_000}),
                       registry=registry, out_dir=tmp_path / "out", run_id="late")
    assert out.status == "failed"
    assert out.summary["error"]["code"] == "PLUGIN_CRASHED" and out.summary["error"]["exit_code"] == 7
    assert "while processing a batch of candles" in out.summary["error"]["message"]


def test_the_cheat_from_the_issue_cannot_trade_inside_the_candle_it_saw(tmp_path):
    """'Buy this candle's low, sell the next one's high' made +1,456 % in 4 days when fills could happen
    inside the candle the strategy had seen. Now its orders are limits for later candles only."""
    folder = tmp_path / "plugins" / "cheat"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"name": "cheat", "version": "1.0.0", "type": "strategy",
                                                    "language": "python", "entry": "s.py"}))
    (folder / "s.py").write_text(
        "from plughost_sdk import Signal, StrategyPlugin\n\n"
        "class Cheat(StrategyPlugin):\n"
        "    def on_candle(self, candle, ctx):\n"
        "        tag = f'{candle.timestamp}'\n"
        "        if ctx.position is None:\n"
        "            return Signal.entry(price=candle.low, reason=tag)\n"
        "        return Signal.exit(price=candle.high, reason=tag)\n")
    sample = REPO / "data" / "sample" / "BTCUSD-1m.parquet"
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    out = run_backtest(RunConfig.parse({"strategy": "cheat", "candles": str(sample), "size": 0.1}),
                       registry=registry, out_dir=tmp_path / "out", run_id="cheat")
    assert out.status == "ok", out.error
    table = pq.read_table(sample).to_pydict()
    bars = {t: (lo, hi) for t, lo, hi in zip(table["timestamp"], table["low"], table["high"], strict=True)}
    done = pq.read_table(out.run_dir / "trades.parquet")
    assert done.num_rows > 50
    for trade in done.to_pylist():
        entry_ms = int(trade["entry_time"].timestamp() * 1000)
        exit_ms = int(trade["exit_time"].timestamp() * 1000)
        assert entry_ms > int(trade["entry_reason"])  # filled on a later candle than the one it saw
        lo, hi = bars[entry_ms]
        assert lo <= trade["entry_price"] <= hi
        if trade["exit_reason"] != "end_of_data":
            assert exit_ms > int(trade["exit_reason"])
    assert out.summary["metrics"]["return_pct"] < 5.0  # nowhere near the +1,456 % of peeking fills


RANDOM_TRADER = '''
import random
from plughost_sdk import Signal, StrategyPlugin

class RandomTrader(StrategyPlugin):
    """Every kind of order, drawn from a generator seeded by the candle, so any batching decides alike."""

    def on_candle(self, candle, ctx):
        rng = random.Random(f"{candle.symbol}{candle.timestamp}")
        if rng.random() < 0.7:
            return None
        c = candle.close
        other = rng.choice(["AAA", "BBB", "CCC", None])
        kind = rng.choice(["market", "limit", "stop"])
        level = c * rng.uniform(0.98, 1.02)
        extra = {"price": level} if kind == "limit" else {"stop": level} if kind == "stop" else {}
        if rng.random() < 0.4:
            return Signal.exit(symbol=other, size=rng.choice([None, 0.5]), valid_for=rng.randint(1, 3), **extra)
        side = rng.choice(["long", "short"])
        lo, hi = c * rng.uniform(0.9, 0.99), c * rng.uniform(1.01, 1.1)
        sl, tp = (lo, hi) if side == "long" else (hi, lo)
        protect = {"stop_loss": sl, "take_profit": tp} if rng.random() < 0.5 else {}
        if rng.random() < 0.2:
            protect["trail_pct"] = rng.uniform(0.5, 5)
        return [Signal.entry(side=side, symbol=other, size=rng.choice([None, 2.0]), valid_for=rng.randint(1, 3),
                             **extra, **protect), Signal.hold()]
'''


def test_multi_symbol_batch_size_invariance_with_random_orders(tmp_path):
    folder = tmp_path / "plugins" / "random-trader"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"name": "random-trader", "version": "1.0.0",
                                                    "type": "strategy", "language": "python", "entry": "s.py"}))
    (folder / "s.py").write_text(RANDOM_TRADER)
    rng = np.random.default_rng(11)
    rows = []
    for k, sym in enumerate(["AAA", "BBB", "CCC"]):
        price = 100.0 * (k + 1)
        for i in range(700):
            if rng.random() < 0.15:
                continue  # symbols do not share every timestamp
            o = price
            price *= float(np.exp(rng.normal(0, 0.01)))
            rows.append((T0 + i * MIN, sym, o, max(o, price) * 1.003, min(o, price) * 0.997, price))
    pq.write_table(pa.table({"timestamp": [r[0] for r in rows], "symbol": [r[1] for r in rows],
                             "open": [r[2] for r in rows], "high": [r[3] for r in rows], "low": [r[4] for r in rows],
                             "close": [r[5] for r in rows], "volume": [1.0] * len(rows)}), tmp_path / "m.parquet")
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    outs = []
    for size in (1, 7, 1000, 8192):
        config = RunConfig.parse({"strategy": "random-trader", "candles": str(tmp_path / "m.parquet"),
                                  "batch_size": size, "leverage": 2.0, "fee_bps": 3, "slippage_bps": 2})
        out = run_backtest(config, registry=registry, out_dir=tmp_path / "out", run_id=f"b{size}")
        assert out.status == "ok", out.error
        counts = tuple(out.summary[k] for k in ("ignored_signals", "rejected_signals", "expired_orders"))
        equity = pq.read_table(out.run_dir / "equity.parquet").column("equity").to_pylist()
        outs.append((trades(out), counts, equity))
    assert len(outs[0][0]) > 50 and {t["side"] for t in outs[0][0]} == {"long", "short"}
    assert {t["exit_reason"] for t in outs[0][0]} >= {"stop_loss", "take_profit"}
    for other in outs[1:]:
        assert other[0] == outs[0][0] and other[1] == outs[0][1]
        assert other[2] == pytest.approx(outs[0][2], rel=1e-12)


def test_plugin_error_while_the_next_batch_is_in_flight_fails_fast_without_teardown_warning(tmp_path):
    """Batch 2 is already sent (pipelining) when batch 1 raises; the plugin would spend a long time on
    batch 2. The run fails with the error of batch 1, located at its candle, at once, and the plugin is
    stopped without waiting for batch 2 or recording a teardown failure."""
    import time

    pdir = tmp_path / "plugins" / "raise-then-slow"
    pdir.mkdir(parents=True)
    (pdir / "plugin.json").write_text(json.dumps({"name": "raise-then-slow", "version": "1.0.0",
                                                  "type": "strategy", "language": "python", "entry": "s.py"}))
    (pdir / "s.py").write_text("import time\nfrom plughost_sdk import StrategyPlugin\n\nclass C(StrategyPlugin):\n"
                               "    n = 0\n    def on_candle(self, candle, ctx):\n        self.n += 1\n"
                               "        if self.n == 5:\n            raise ValueError('boom')\n"
                               "        if self.n > 10:\n            time.sleep(30)\n")
    random_walk(tmp_path / "c.parquet", 30)
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    began = time.monotonic()
    out = run_backtest(RunConfig.parse({"strategy": "raise-then-slow", "candles": str(tmp_path / "c.parquet"),
                                        "batch_size": 10}),
                       registry=registry, out_dir=tmp_path / "out", run_id="rts")
    assert time.monotonic() - began < 20
    assert out.status == "failed" and out.summary["error"]["code"] == "PLUGIN_ERROR"
    assert "boom" in out.summary["error"]["message"]
    assert not [w for w in out.summary["warnings"] if w.get("code") == "TEARDOWN_FAILED"]
