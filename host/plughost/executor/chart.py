"""The run page's price charts, sampled while the candles stream: at most `MAX_BARS` bars per symbol, in
bounded memory, whatever the run's length.

Why here and not in the report: a report that re-read, re-validated and re-computed the candle file cost
~1 s of every 1M-candle `plughost run` (more than the plugin's own work on the vectorized path), and it
could not draw a run whose candle file had since moved. The engine already holds every candle and its
indicators once; it keeps a few thousand bars and writes them beside the results (`chart.json`).

The grouping rule (one implementation, also used by `plughost report` for older runs without the file):
a symbol of n candles is cut into groups of k = ceil(n / MAX_BARS) consecutive candles, and groups whose
first candles fall in the same whole second are merged (the charting library's time unit is the second,
and its times must increase). A bar is first open, highest high, lowest low, last close, stamped with its
first candle's time; an indicator is shown at each bar's last candle.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MAX_BARS = 5000
CHART_FILE = "chart.json"
CHART_VERSION = 1
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

    def to_json(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "candles": self.candles, "per_bar": self.per_bar,
                "first_close": _finite(self.first_close), "start_ms": self.start_ms.tolist(),
                "end_ms": self.end_ms.tolist(), "open": _floats(self.open), "high": _floats(self.high),
                "low": _floats(self.low), "close": _floats(self.close),
                "indicators": {k: _floats(v) for k, v in self.indicators.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SymbolBars:
        def f(values: Any) -> F64:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        start, end = np.asarray(data["start_ms"], np.int64), np.asarray(data["end_ms"], np.int64)
        bars = cls(str(data["symbol"]), int(data["candles"]), int(data["per_bar"]),
                   float("nan") if data["first_close"] is None else float(data["first_close"]), start, end,
                   f(data["open"]), f(data["high"]), f(data["low"]), f(data["close"]),
                   {str(k): f(v) for k, v in dict(data["indicators"]).items()})
        n = len(start)
        if any(len(a) != n for a in (end, bars.open, bars.high, bars.low, bars.close, *bars.indicators.values())):
            raise ValueError(f"chart of {bars.symbol}: columns of different lengths")
        return bars


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _floats(values: F64) -> list[float | None]:
    out: list[float | None] = values.tolist()
    bad = ~np.isfinite(values)
    if bad.any():
        for i in np.flatnonzero(bad).tolist():
            out[i] = None
    return out


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
        for s in np.unique(symbol).tolist():
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


def write_chart(path: Path, bars: list[SymbolBars]) -> None:
    text = json.dumps({"version": CHART_VERSION, "symbols": [b.to_json() for b in bars]},
                      separators=(",", ":"), allow_nan=False)
    path.write_text(text, encoding="utf-8")


def read_chart(path: Path) -> list[SymbolBars]:
    """The bars a run's engine kept; ValueError/KeyError/TypeError/OSError for a file that is not one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != CHART_VERSION:
        raise ValueError(f"{path.name}: not a chart file of version {CHART_VERSION}")
    return [SymbolBars.from_json(item) for item in data["symbols"]]


__all__ = ["CHART_FILE", "MAX_BARS", "ChartSampler", "SymbolBars", "read_chart", "write_chart"]
