"""In-process baselines for bench/throughput.py: what a user would write by hand instead of plughost.

- `plain_python_loop`: the bench strategy's own class, called per candle with a Candle object per row,
  booking with plughost's rules (market orders, next-open fills, size 1 unit, no fees), reading the
  Parquet file and writing trades and equity to Parquet: a hand-written backtest loop.
- `numpy_script`: the same crossover as one numpy script: read Parquet, SMA columns, signals, fills at the
  next open, equity per candle, write Parquet.
Both return (seconds, [(entry signal bar, exit signal bar), ...]) for the trade check.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
CAPITAL = 10_000.0


def _sma(close: np.ndarray, period: int) -> np.ndarray:
    csum = np.cumsum(np.r_[0.0, close])
    out = np.full(len(close), np.nan)
    out[period - 1:] = (csum[period:] - csum[:-period]) / period
    return out


def _load_strategy() -> Any:
    entry = REPO / "bench" / "plugins" / "sma-ind" / "strategy.py"
    spec = importlib.util.spec_from_file_location("bench_sma_ind", entry)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SmaIndicators()


def plain_python_loop(path: Path, out: Path) -> tuple[float, list[tuple[int, int]]]:
    from plughost_sdk import Candle

    t = time.perf_counter()
    table = pq.read_table(path)
    ts, op, hi, lo, cl, vo = (table[c].to_numpy() for c in ("timestamp", "open", "high", "low", "close", "volume"))
    fast, slow = _sma(cl, 10).tolist(), _sma(cl, 30).tolist()
    strategy = _load_strategy()
    strategy.initialize({})
    ctx = SimpleNamespace(indicators={}, position=None)
    cash, units, entry_px, entry_bar, pending = CAPITAL, 0.0, 0.0, -1, None
    pairs, trades, equity = [], [], []
    signal_bar = -1
    for i, (t_, o, h, low, c, v) in enumerate(zip(ts.tolist(), op.tolist(), hi.tolist(), lo.tolist(), cl.tolist(),
                                                  vo.tolist(), strict=True)):
        if pending is not None:  # the previous candle's order fills at this open
            if pending == "entry" and units == 0:
                units, entry_px, entry_bar = 1.0, o, signal_bar
                cash -= o
            elif pending == "exit" and units:
                cash += o
                trades.append((t_, entry_px, o, o - entry_px))
                pairs.append((entry_bar, signal_bar))
                units = 0.0
            pending = None
        ctx.indicators = {"fast": fast[i], "slow": slow[i]}
        ctx.position = units or None
        sig = strategy.on_candle(Candle(t_, o, h, low, c, v, "X"), ctx)
        if sig is not None and sig.type != "hold":
            pending, signal_bar = sig.type, i
        equity.append(cash + units * c)
    pq.write_table(pa.table({"timestamp": ts, "equity": np.array(equity)}), out / "plain-equity.parquet")
    pq.write_table(pa.table({"exit_time": [x[0] for x in trades], "entry_price": [x[1] for x in trades],
                             "exit_price": [x[2] for x in trades], "pnl": [x[3] for x in trades]}),
                   out / "plain-trades.parquet")
    return time.perf_counter() - t, pairs


def numpy_script(path: Path, out: Path) -> tuple[float, list[tuple[int, int]]]:
    t = time.perf_counter()
    table = pq.read_table(path, columns=["timestamp", "open", "close"])
    ts, op, cl = (table[c].to_numpy() for c in ("timestamp", "open", "close"))
    diff = _sma(cl, 10) - _sma(cl, 30)
    prev = np.r_[np.nan, diff[:-1]]
    up = np.flatnonzero((prev <= 0) & (diff > 0))
    down = np.flatnonzero((prev >= 0) & (diff < 0))
    # alternate entries and exits: each entry's first later exit, each exit's entry the first after the last exit
    entries, exits = [], []
    last_exit = -1
    while True:
        k = np.searchsorted(up, last_exit, side="right")
        if k >= len(up):
            break
        e = up[k]
        j = np.searchsorted(down, e, side="right")
        if j >= len(down) or down[j] + 1 >= len(cl):
            break
        entries.append(e)
        exits.append(down[j])
        last_exit = down[j]
    entries_a, exits_a = np.array(entries, np.int64), np.array(exits, np.int64)
    held = np.zeros(len(cl) + 1)
    np.add.at(held, entries_a + 1, 1.0)
    np.add.at(held, exits_a + 1, -1.0)
    units = np.cumsum(held)[:-1]
    flow = np.zeros(len(cl))
    flow[entries_a + 1] -= op[entries_a + 1]
    flow[exits_a + 1] += op[exits_a + 1]
    equity = CAPITAL + np.cumsum(flow) + units * cl
    pq.write_table(pa.table({"timestamp": ts, "equity": equity}), out / "numpy-equity.parquet")
    pq.write_table(pa.table({"entry_time": ts[entries_a + 1], "exit_time": ts[exits_a + 1],
                             "pnl": op[exits_a + 1] - op[entries_a + 1]}), out / "numpy-trades.parquet")
    return time.perf_counter() - t, [(int(a), int(b)) for a, b in zip(entries, exits, strict=True)]
