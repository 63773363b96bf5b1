"""Per-candle throughput: the same SMA 10/30 crossover through every path, on seeded bars.

    .venv/bin/python bench/throughput.py [--bars 100000 1000000] [--repeat 3]

Rows (candles/s end to end, median of --repeat, with ratios against the in-process baselines measured in
the same run; then candles/s inside the strategy's `candles` requests as the host timed them):
  (P)  plain loop     baseline: the bench strategy's class called per candle with a Candle per row, booked
                      by hand with plughost's rules (next-open fills), reading and writing Parquet
                      (bench/baselines.py): what a user would write instead of plughost
  (N)  numpy script   baseline: the same crossover as one numpy script (read Parquet, SMA, signals, fills
                      at the next open, equity, write Parquet)
  (a)  in-process     the plugin's own class driven by the SDK in the host process: the same code, no process
  (b)  python plugin  plughost run: the plugin in its own Python process, one on_candle per candle
  (c)  vectorized     plughost run: a Python plugin's numpy on_batch
  (d)  node plugin    plughost run: the TypeScript SDK (when built), one onCandle per candle
  (f)  +2 features    (b) with two feature plugins listening to on_candle
  (nl) node own loop  the Node SDK's driver in one Node process over the same columns (bench/node_loop.js)
  (b/c/d) cli         the whole `plughost run` command as a subprocess (interpreter start, imports, run)
(b), (d) are compared with (P); (c) with (N). Fills at the next open (the default) everywhere except the
peers, which fill at the signal candle's close; trades are compared by their signal candles.
Every variant must make the same trades; the script checks and says so.
Peers (backtesting.py, vectorbt) run when installed: `pip install -e '.[bench]'`; they get the same
bars and the same SMA columns and fill at the signal candle's close, so they must make the same trades.
vectorbt is timed in its steady state (numba compiled first), backtesting.py from Backtest.run().
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
sys.path.insert(0, str(REPO / "bench"))
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
        from plughost_sdk._loader import find_plugin, load_module

        self.driver = StrategyDriver(find_plugin(load_module(entry.entry_path, entry.name)))
        self.name = entry.name
        self.hello = Hello(1, "in-process", "-", None, None, "strategy", frozenset(self.driver.methods), 0)
        self.stats = CallStats()

    def initialize(self, config: dict[str, Any], run_id: str, **run: Any) -> None:
        self.driver.initialize({"config": config, "run_id": run_id, "run": run})

    def run_batch(self, batch: Any) -> Any:
        return self.finish_batch(self.send_batch(batch))

    def send_batch(self, batch: Any, wire: Any = None) -> Any:
        from plughost.protocol.messages import parse_batch_result

        wire = wire if wire is not None else batch.to_wire()
        return parse_batch_result(self.driver.candles(wire), len(batch), len(batch.alerts))

    def finish_batch(self, call: Any) -> Any:
        return call

    teardown_error = None

    def sample_resources(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        pass


def run_engine(path: Path, strategy: str, *, features: tuple[str, ...] = (), in_process: bool = False,
               out: Path) -> tuple[float, list[tuple[int, int]], int]:
    from plughost.executor import engine
    from plughost.executor.runconfig import RunConfig
    from plughost.executor.runhooks import RunHooks
    from plughost.plugins.registry import Registry

    registry = Registry.discover([PLUGINS, REPO / "plugins", REPO / "tests" / "fixtures" / "plugins" / "node"],
                                 use_cache=False)
    run = RunConfig.parse({"strategy": strategy, "candles": str(path), "indicators": INDICATORS,
                           "features": list(features), "batch_size": 8192})
    hooks = RunHooks(load_plugin=lambda entry, **kw: InProcessStrategy(entry)) if in_process else None
    t = time.perf_counter()
    outcome = engine.run_backtest(run, registry=registry, out_dir=out, run_id=f"{strategy}-{time.time_ns()}",
                                  hooks=hooks)
    elapsed = time.perf_counter() - t
    if outcome.status != "ok":
        raise SystemExit(f"{strategy}: run failed: {outcome.error}")
    calls = outcome.summary["plugins"].get(strategy, {}).get("calls", {}).get("candles", {})
    pairs = signal_pairs(path, outcome.run_dir / "trades.parquet")  # type: ignore[operator]
    return elapsed, pairs, outcome.summary["candles"] / (calls["total_ms"] / 1e3) if calls else 0.0


def signal_pairs(path: Path, trades: Path) -> list[tuple[int, int]]:
    """(entry, exit) signal candles of the closed trades: filled at the next open, so one candle earlier."""
    table = pq.read_table(trades)
    ts = pq.read_table(path, columns=["timestamp"])["timestamp"].to_numpy()
    keep = np.array([r != "end_of_data" for r in table["exit_reason"].to_pylist()], bool)
    entries = np.searchsorted(ts, table["entry_time"].cast(pa.int64()).to_numpy()[keep]) - 1
    exits = np.searchsorted(ts, table["exit_time"].cast(pa.int64()).to_numpy()[keep]) - 1
    return list(zip(entries.tolist(), exits.tolist(), strict=True))


def run_cli(path: Path, strategy: str, out: Path) -> tuple[float, list[tuple[int, int]], float]:
    """The whole `plughost run` command, as a user types it, timed from outside."""
    config = out / "bench-run.json"
    config.write_text(json.dumps({"indicators": INDICATORS, "batch_size": 8192}))
    run_id = f"cli-{strategy}-{time.time_ns()}"
    # the console script's own entry (pyproject's `plughost = "plughost.entry:main"`, with its exit), so that
    # PYTHONPATH can point the bench at another checkout
    cmd = [sys.executable, "-c", "from plughost.entry import main; main()", "run",
           "--strategy", strategy, "--candles", str(path), "--config", str(config),
           "--plugins-dir", str(PLUGINS), "--out", str(out), "--run-id", run_id]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return elapsed, signal_pairs(path, out / "runs" / run_id / "trades.parquet"), 0.0


def node_own_loop(path: Path, out: Path) -> tuple[float, list[tuple[int, int]], float]:
    """(nl): the Node SDK's driver in process; its signals are not booked into trades (count only)."""
    from baselines import _sma

    table = pq.read_table(path)
    close = table["close"].to_numpy()
    cols = [table["timestamp"].to_numpy().astype("<i8").tobytes()]
    cols += [table[c].to_numpy().astype("<f8").tobytes() for c in ("open", "high", "low", "close", "volume")]
    cols += [_sma(close, 10).tobytes(), _sma(close, 30).tobytes()]
    raw = out / "node-columns.bin"
    raw.write_bytes(b"".join(cols))
    done = subprocess.run(["node", str(REPO / "bench" / "node_loop.js"), str(raw), str(len(close))],
                          capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["seconds"]), [], 0.0


def vectorbt_fresh(path: Path) -> tuple[float, list[tuple[int, int]], float]:
    """(e) vectorbt in a fresh process: interpreter, imports and numba compilation included."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); from pathlib import Path; "
            f"import throughput as t; e, pairs, _ = t.peer_vectorbt(Path({str(path)!r})); print(len(pairs))")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - t, [], 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="run only the rows whose name contains one of these")
    parser.add_argument("--quick", action="store_true", help="skip the features row")
    args = parser.parse_args()
    node_built = (REPO / "sdk-typescript" / "dist" / "runner.js").is_file()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        for bars in args.bars:
            path = Path(tmp) / f"bars-{bars}.parquet"
            make_bars(bars, path)
            from baselines import numpy_script, plain_python_loop

            variants: dict[str, Any] = {
                "(P)  plain loop": lambda p=path: (*plain_python_loop(p, out), 0.0),
                "(N)  numpy script": lambda p=path: (*numpy_script(p, out), 0.0),
                "(a)  in-process": lambda p=path: run_engine(p, "bench-sma-ind", in_process=True, out=out),
                "(b)  python plugin": lambda p=path: run_engine(p, "bench-sma-ind", out=out),
                "(b)  cli": lambda p=path: run_cli(p, "bench-sma-ind", out),
                "(c)  vectorized": lambda p=path: run_engine(p, "bench-sma-ind-vec", out=out),
                "(c)  cli": lambda p=path: run_cli(p, "bench-sma-ind-vec", out),
            }
            if node_built:
                variants["(d)  node plugin"] = lambda p=path: run_engine(p, "bench-sma-ind-js", out=out)
                variants["(d)  cli"] = lambda p=path: run_cli(p, "bench-sma-ind-js", out)
                variants["(nl) node own loop"] = lambda p=path: node_own_loop(p, out)
            try:
                import backtesting  # noqa: F401

                variants["(e)  backtesting.py"] = lambda p=path: peer_backtesting_py(p)
            except ImportError:
                print("  (e) backtesting.py: not installed (pip install -e '.[bench]')")
            try:
                import vectorbt  # noqa: F401

                variants["(e)  vectorbt"] = lambda p=path: peer_vectorbt(p)
                variants["(e)  vectorbt fresh"] = lambda p=path: vectorbt_fresh(p)
            except ImportError:
                print("  (e) vectorbt: not installed (pip install -e '.[bench]')")
            if (PLUGINS / "count-candles").is_dir() and not args.quick:
                variants["(f)  +2 features"] = lambda p=path: run_engine(
                    p, "bench-sma-ind", features=("bench-count-candles", "bench-count-candles-2"), out=out)
            if args.only:
                variants = {k: v for k, v in variants.items() if any(o in k for o in args.only)}
            print(f"\n{bars:,} bars, median of {args.repeat} (load: {os.getloadavg()[0]:.1f}):", flush=True)
            rates: dict[str, float] = {}
            reference = None
            for name, fn in variants.items():
                times, trades, inside = [], None, []
                for _ in range(args.repeat):
                    elapsed, trades, plugin_rate = fn()
                    times.append(elapsed)
                    inside.append(plugin_rate)
                rate = bars / statistics.median(times)
                rates[name] = rate
                if trades:
                    reference = reference if reference is not None else trades
                    same = "same trades" if trades == reference else \
                        f"DIFFERENT TRADES ({len(trades)} vs {len(reference)})"
                else:
                    same = "(trades not compared)"
                base = "(N)  numpy script" if name.startswith("(c)") else "(P)  plain loop"
                ratio = f"{rate / rates[base]:5.2f}x of {base[:3]}" if base in rates and name != base else ""
                in_plugin = statistics.median(inside)
                plugin = f"{in_plugin:>12,.0f} in the plugin call" if in_plugin else " " * 31
                print(f"  {name:<20} {rate:>12,.0f} candles/s end to end {ratio:>16}  {plugin}   "
                      f"{len(trades)} trades, {same}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
