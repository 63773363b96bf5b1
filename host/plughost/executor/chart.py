"""The run page's price charts, sampled while the candles stream: at most `MAX_BARS` bars per symbol, in
bounded memory, whatever the run's length.

Why here and not in the report: a report that re-read, re-validated and re-computed the candle file cost
~1 s of every 1M-candle `plughost run` (more than the plugin's own work on the vectorized path), and it
could not draw a run whose candle file had since moved. The engine already holds every candle and its
indicators once; it keeps a few thousand bars and writes them beside the results (`chart.parquet`).

The grouping rule (one implementation, also used by `plughost report` for older runs without the file):
a symbol of n candles is cut into groups of k = ceil(n / MAX_BARS) consecutive candles, and groups whose
first candles fall in the same whole second are merged (the charting library's time unit is the second,
and its times must increase). A bar is first open, highest high, lowest low, last close, stamped with its
first candle's time; an indicator is shown at each bar's last candle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MAX_BARS = 5000
CHART_FILE = "chart.parquet"
I64 = np.ndarray[Any, np.dtype[np.int64]]
F64 = np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class SymbolBars:
    """One symbol's bars. `end_ms` is each bar's last candle time (equity and buy-and-hold line up on it)."""

    symbol: str
    candles: int
    per_bar: int
    first_close: float
    start_ms: I64
    end_ms: I64
    open: F64
    high: F64
    low: F64
    close: F64
    indicators: dict[str, F64]


@dataclass
class _Segments:
    """Per-symbol pieces of groups as they arrived (a group cut by a batch boundary is two pieces)."""

    group: list[I64] = field(default_factory=list)
    start_ms: list[I64] = field(default_factory=list)
    end_ms: list[I64] = field(default_factory=list)
    open: list[F64] = field(default_factory=list)
    high: list[F64] = field(default_factory=list)
    low: list[F64] = field(default_factory=list)
    close: list[F64] = field(default_factory=list)
    indicators: dict[str, list[F64]] = field(default_factory=dict)
    seen: int = 0
    first_close: float = float("nan")


class ChartSampler:
    """Feed it each symbol's rows in time order (any chunking); `finish()` gives the bars, identical for
    any chunking."""

    def __init__(self, symbols: list[str], counts: list[int], limit: int = MAX_BARS) -> None:
        self.symbols = symbols
        self.per_group = [max(1, -(-n // limit)) for n in counts]
        self.counts = counts
        self.parts = [_Segments() for _ in symbols]

    def add_batch(self, symbol: I64, timestamp: I64, open_: F64, high: F64, low: F64, close: F64,
                  indicators: dict[str, F64]) -> None:
        """Rows of a merged stream (`symbol` holds each row's index into `symbols`)."""
        if len(self.symbols) == 1:
            self.add(0, timestamp, open_, high, low, close, indicators)
            return
        for s in np.unique(symbol, return_counts=True)[0].tolist():  # counts: plain np.unique imports numpy.ma
            rows = np.flatnonzero(symbol == s)
            self.add(int(s), timestamp[rows], open_[rows], high[rows], low[rows], close[rows],
                     {k: v[rows] for k, v in indicators.items()})

    def add(self, s: int, timestamp: I64, open_: F64, high: F64, low: F64, close: F64,
            indicators: dict[str, F64]) -> None:
        n = len(timestamp)
        if n == 0:
            return
        part = self.parts[s]
        if part.seen == 0:
            part.first_close = float(close[0])
        group = (part.seen + np.arange(n, dtype=np.int64)) // self.per_group[s]
        part.seen += n
        starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        ends = np.concatenate((starts[1:] - 1, [n - 1]))
        part.group.append(group[starts])
        part.start_ms.append(np.asarray(timestamp[starts], np.int64))
        part.end_ms.append(np.asarray(timestamp[ends], np.int64))
        part.open.append(np.asarray(open_[starts], np.float64))
        part.high.append(np.maximum.reduceat(np.asarray(high, np.float64), starts))
        part.low.append(np.minimum.reduceat(np.asarray(low, np.float64), starts))
        part.close.append(np.asarray(close[ends], np.float64))
        for name, values in indicators.items():
            part.indicators.setdefault(name, []).append(np.asarray(values[ends], np.float64))

    def finish(self) -> list[SymbolBars]:
        out = []
        for s, symbol in enumerate(self.symbols):
            part = self.parts[s]
            if not part.group:
                continue
            cat = np.concatenate
            cols = (cat(part.start_ms), cat(part.end_ms), cat(part.open), cat(part.high), cat(part.low),
                    cat(part.close), {k: cat(v) for k, v in part.indicators.items()})
            cols = _merge(cat(part.group), *cols)           # pieces of one group
            cols = _merge(cols[0] // 1000, *cols)            # groups that share a second
            start, end, open_, high, low, close, ind = cols
            out.append(SymbolBars(symbol, part.seen, self.per_group[s], part.first_close, start, end, open_,
                                  high, low, close, ind))
        return out


def _merge(key: I64, start: I64, end: I64, open_: F64, high: F64, low: F64, close: F64,
           indicators: dict[str, F64]) -> tuple[I64, I64, F64, F64, F64, F64, dict[str, F64]]:
    """Rows with the same (non-decreasing) key become one bar."""
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    if len(first) == len(key):
        return start, end, open_, high, low, close, indicators
    last = np.concatenate((first[1:] - 1, [len(key) - 1]))
    return (start[first], end[last], open_[first], np.maximum.reduceat(high, first),
            np.minimum.reduceat(low, first), close[last], {k: v[last] for k, v in indicators.items()})


INDICATOR_PREFIX = "indicator."


def write_chart(path: Path, bars: list[SymbolBars]) -> None:
    """One Parquet row a bar, the symbols one after another; a symbol's constants repeat on its rows."""
    names = list(dict.fromkeys(name for b in bars for name in b.indicators))  # the run's order
    columns: dict[str, list[np.ndarray]] = {k: [] for k in (
        "symbol", "candles", "per_bar", "first_close", "start_ms", "end_ms", "open", "high", "low", "close")}
    columns.update({INDICATOR_PREFIX + name: [] for name in names})
    for b in bars:
        n = len(b.start_ms)
        columns["symbol"].append(np.full(n, b.symbol, dtype=object))
        for key, value in (("candles", b.candles), ("per_bar", b.per_bar)):
            columns[key].append(np.full(n, value, np.int64))
        columns["first_close"].append(np.full(n, b.first_close))
        for key in ("start_ms", "end_ms", "open", "high", "low", "close"):
            columns[key].append(getattr(b, key))
        for name in names:
            columns[INDICATOR_PREFIX + name].append(b.indicators.get(name, np.full(n, np.nan)))
    table = pa.table({k: np.concatenate(v) if v else np.empty(0) for k, v in columns.items()})
    pq.write_table(table, path, use_dictionary=["symbol"], compression="zstd")


def read_chart(path: Path) -> list[SymbolBars]:
    """The bars a run's engine kept; ValueError/KeyError/OSError/ArrowException for a file that is not one."""
    table = pq.read_table(path)
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    symbols = cols["symbol"]
    starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]]) if len(symbols) else np.empty(0, np.int64)
    out = []
    for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(symbols)], strict=True):
        part = {k: v[lo:hi] for k, v in cols.items()}
        floats = {k: part[k].astype(np.float64) for k in ("open", "high", "low", "close")}
        indicators = {k[len(INDICATOR_PREFIX):]: v.astype(np.float64) for k, v in part.items()
                      if k.startswith(INDICATOR_PREFIX)}
        out.append(SymbolBars(str(symbols[lo]), int(part["candles"][0]), int(part["per_bar"][0]),
                              float(part["first_close"][0]), part["start_ms"].astype(np.int64),
                              part["end_ms"].astype(np.int64), floats["open"], floats["high"], floats["low"],
                              floats["close"], indicators))
    return out


__all__ = ["CHART_FILE", "MAX_BARS", "ChartSampler", "SymbolBars", "read_chart", "write_chart"]
