"""Per-candle throughput: the same SMA 10/30 crossover through every path, on seeded bars.

    .venv/bin/python bench/throughput.py [--bars 100000 1000000] [--repeat 3]

Rows (candles/s end to end, median of --repeat, and the ratio to row (a); then candles/s inside the
strategy's `candles` requests as the host timed them: batch transfer + the plugin's loop):
  (a0) bare loop      a hand-written Python loop over the indicator columns (no objects, no framework)
  (a)  in-process     the plugin's own class driven by the SDK in the host process: the same code, no process
  (b)  python plugin  plughost run: the plugin in its own Python process, one on_candle per candle
  (c)  vectorized     plughost run: a Python plugin's numpy on_batch
  (d)  node plugin    plughost run: the TypeScript SDK (when built), one onCandle per candle
  (f)  +2 features    (b) with two feature plugins listening to on_candle
Every variant must make the same trades; the script checks and says so.
Peers (backtesting.py, vectorbt) run when installed: `pip install -e '.[bench]'`; they get the same
bars and the same SMA columns and fill at the signal candle's close, so they must make the same trades.
vectorbt is timed in its steady state (numba compiled first), backtesting.py from Backtest.run().
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar would interleave with our rows
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "bench" / "plugins"
INDICATORS = {"fast": {"type": "sma", "period": 10}, "slow": {"type": "sma", "period": 30}}


def make_bars(n: int, path: Path) -> None:
    rng = np.random.default_rng(42)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    table = pa.table({
        "timestamp": np.arange(n, dtype=np.int64) * 60_000 + 1_600_000_000_000,
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.uniform(1, 10, n),
    })
    pq.write_table(table, path)


def bare_loop(path: Path) -> tuple[float, list[tuple[int, int]]]:
    """(a0): the crossover over precomputed columns, booking entries/exits by index."""
    from plughost.executor.indicators import compute_indicators, parse_indicators

    table = pq.read_table(path)
    t = time.perf_counter()
    high, low, close = (table[c].to_numpy() for c in ("high", "low", "close"))
    values = compute_indicators(parse_indicators(INDICATORS), high, low, close)
    fast, slow = values["fast"].tolist(), values["slow"].tolist()
    trades, entry, prev = [], None, None
    for i in range(len(fast)):
        diff = fast[i] - slow[i]
        if prev is not None:
            if prev <= 0 < diff and entry is None:
                entry = i
            elif prev >= 0 > diff and entry is not None:
                trades.append((entry, i))
                entry = None
        prev = diff
    elapsed = time.perf_counter() - t
    return elapsed, trades


def peer_backtesting_py(path: Path) -> tuple[float, list[tuple[int, int]], float]:
    """(e) backtesting.py on the same bars and the same SMA columns, filling at the signal candle's close."""
    import warnings

    import pandas as pd
    from backtesting import Backtest, Strategy

    warnings.filterwarnings("ignore", message="Some trades remain open")  # we compare closed trades only
    from plughost.executor.indicators import compute_indicators, parse_indicators

    table = pq.read_table(path)
    frame = pd.DataFrame({
        "Open": table["open"].to_numpy(), "High": table["high"].to_numpy(), "Low": table["low"].to_numpy(),
        "Close": table["close"].to_numpy(), "Volume": table["volume"].to_numpy(),
    }, index=pd.to_datetime(table["timestamp"].to_numpy(), unit="ms"))
    values = compute_indicators(parse_indicators(INDICATORS), frame["High"].to_numpy(), frame["Low"].to_numpy(),
                                frame["Close"].to_numpy())
    diff = values["fast"] - values["slow"]

    class Cross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.diff = self.I(lambda: diff, name="diff", plot=False)

        def next(self) -> None:
            if len(self.diff) < 2:
                return
            prev, now = self.diff[-2], self.diff[-1]
            if prev <= 0 < now and not self.position:
                self.buy(size=1)
            elif prev >= 0 > now and self.position:
                self.position.close()

    t = time.perf_counter()
    stats = Backtest(frame, Cross, cash=1e12, trade_on_close=True, finalize_trades=False).run()
    elapsed = time.perf_counter() - t
    trades = stats["_trades"]
    return elapsed, list(zip(trades["EntryBar"].tolist(), trades["ExitBar"].tolist(), strict=True)), 0.0


_VBT_WARM = False


def peer_vectorbt(path: Path) -> tuple[float, list[tuple[int, int]], float]:
    """(e) vectorbt's steady state (numba compiled beforehand): the same crossover as signal arrays."""
    import vectorbt as vbt
    from plughost.executor.indicators import compute_indicators, parse_indicators

    global _VBT_WARM
    if not _VBT_WARM:  # numba compiles on first use; steady state is what we compare
        warm = vbt.Portfolio.from_signals(np.array([1.0, 2.0, 3.0]), np.array([True, False, False]),
                                          np.array([False, False, True]), size=1.0, init_cash=1e12)
        _ = warm.trades.records
        _VBT_WARM = True
    table = pq.read_table(path)
    high, low, close = (table[c].to_numpy() for c in ("high", "low", "close"))
    t = time.perf_counter()
    values = compute_indicators(parse_indicators(INDICATORS), high, low, close)
    diff = values["fast"] - values["slow"]
    prev = np.r_[np.nan, diff[:-1]]
    entries, exits = (prev <= 0) & (diff > 0), (prev >= 0) & (diff < 0)
    pf = vbt.Portfolio.from_signals(close, entries, exits, size=1.0, init_cash=1e12)
    records = pf.trades.records
    elapsed = time.perf_counter() - t
    closed = records[records["status"] == 1]
    return elapsed, list(zip(closed["entry_idx"].tolist(), closed["exit_idx"].tolist(), strict=True)), 0.0


class InProcessStrategy:
    """Stands in for a StrategyProxy: the SDK's driver called directly, same wire dicts, no process."""

    def __init__(self, entry: Any) -> None:
        from plughost.client.proxies import CallStats
        from plughost.protocol.messages import Hello
        from plughost_sdk._driver import StrategyDriver
        from plughost_sdk._runner import _find_plugin, _load_module

        self.driver = StrategyDriver(_find_plugin(_load_module(entry.entry_path, entry.name), entry.entry_path))
        self.name = entry.name
        self.hello = Hello(1, "in-process", "-", None, None, "strategy", frozenset(self.driver.methods), 0)
        self.stats = CallStats()

    def initialize(self, config: dict[str, Any], run_id: str, **run: Any) -> None:
        self.driver.initialize({"config": config, "run_id": run_id, "run": run})

    def run_batch(self, batch: Any) -> Any:
        from plughost.protocol.messages import parse_batch_result

        return parse_batch_result(self.driver.candles(batch.to_wire()), len(batch), len(batch.alerts))

    teardown_error = None

    def sample_resources(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        pass


def run_engine(path: Path, strategy: str, *, features: tuple[str, ...] = (), in_process: bool = False,
               out: Path) -> tuple[float, list[tuple[int, int]], int]:
    from plughost.executor import engine
    from plughost.executor.runconfig import RunConfig
    from plughost.plugins.registry import Registry

    registry = Registry.discover([PLUGINS, REPO / "plugins", REPO / "tests" / "fixtures" / "plugins" / "node"],
                                 use_cache=False)
    # fill_at "close": the peers and the bare loop book at the signal candle's close; the same rule
    # here keeps every row's trades comparable (the default next-open fill costs the same).
    run = RunConfig.parse({"strategy": strategy, "candles": str(path), "indicators": INDICATORS,
                           "features": list(features), "batch_size": 8192, "fill_at": "close"})
    original = engine.load_plugin
    if in_process:
        engine.load_plugin = lambda entry, **kw: InProcessStrategy(entry)  # type: ignore[assignment]
    try:
        t = time.perf_counter()
        outcome = engine.run_backtest(run, registry=registry, out_dir=out, run_id=f"{strategy}-{time.time_ns()}")
        elapsed = time.perf_counter() - t
    finally:
        engine.load_plugin = original
    if outcome.status != "ok":
        raise SystemExit(f"{strategy}: run failed: {outcome.error}")
    table = pq.read_table(outcome.run_dir / "trades.parquet")  # type: ignore[operator]
    ts = pq.read_table(path, columns=["timestamp"])["timestamp"].to_numpy()
    keep = np.array([r != "end_of_data" for r in table["exit_reason"].to_pylist()], bool)
    entries = np.searchsorted(ts, table["entry_time"].cast(pa.int64()).to_numpy()[keep])
    exits = np.searchsorted(ts, table["exit_time"].cast(pa.int64()).to_numpy()[keep])
    pairs = list(zip(entries.tolist(), exits.tolist(), strict=True))
    calls = outcome.summary["plugins"].get(strategy, {}).get("calls", {}).get("candles", {})
    return elapsed, pairs, outcome.summary["candles"] / (calls["total_ms"] / 1e3) if calls else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    node_built = (REPO / "sdk-typescript" / "dist" / "runner.js").is_file()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        for bars in args.bars:
            path = Path(tmp) / f"bars-{bars}.parquet"
            make_bars(bars, path)
            variants: dict[str, Any] = {
                "(a0) bare loop": lambda p=path: (*bare_loop(p), 0.0),
                "(a)  in-process": lambda p=path: run_engine(p, "bench-sma-ind", in_process=True, out=out),
                "(b)  python plugin": lambda p=path: run_engine(p, "bench-sma-ind", out=out),
                "(c)  vectorized": lambda p=path: run_engine(p, "bench-sma-ind-vec", out=out),
            }
            if node_built:
                variants["(d)  node plugin"] = lambda p=path: run_engine(p, "bench-sma-ind-js", out=out)
            try:
                import backtesting  # noqa: F401

                variants["(e)  backtesting.py"] = lambda p=path: peer_backtesting_py(p)
            except ImportError:
                print("  (e) backtesting.py: not installed (pip install -e '.[bench]')")
            try:
                import vectorbt  # noqa: F401

                variants["(e)  vectorbt"] = lambda p=path: peer_vectorbt(p)
            except ImportError:
                print("  (e) vectorbt: not installed (pip install -e '.[bench]')")
            if (PLUGINS / "count-candles").is_dir():
                variants["(f)  +2 features"] = lambda p=path: run_engine(
                    p, "bench-sma-ind", features=("bench-count-candles", "bench-count-candles-2"), out=out)
            print(f"\n{bars:,} bars, median of {args.repeat}:")
            base_rate = None
            reference = None
            for name, fn in variants.items():
                times, trades, inside = [], None, []
                for _ in range(args.repeat):
                    elapsed, trades, plugin_rate = fn()
                    times.append(elapsed)
                    inside.append(plugin_rate)
                rate = bars / statistics.median(times)
                if name.startswith("(a) "):
                    base_rate = rate
                reference = reference if reference is not None else trades
                same = "same trades" if trades == reference else f"DIFFERENT TRADES ({len(trades)} vs {len(reference)})"
                ratio = f"{rate / base_rate:5.2f}x of (a)" if base_rate else ""
                in_plugin = statistics.median(inside)
                plugin = f"{in_plugin:>12,.0f} in the plugin call" if in_plugin else " " * 31
                print(f"  {name:<20} {rate:>12,.0f} candles/s end to end {ratio:>14}  {plugin}   "
                      f"{len(trades)} trades, {same}")


if __name__ == "__main__":
    sys.exit(main())
