"""The run page's equity chart, kept while the equity curve streams (stored in equity.parquet's footer).

The curve is cut into at most `MAX_BUCKETS` groups of consecutive rows; each group gives the row of its
lowest equity, of its highest equity and of its deepest drawdown (percent below the running peak), at their
own times, so no dip or spike of the curve is hidden by thinning. The first and last rows are always kept
(the exact final equity). Rows are kept whole: every point is a real row of equity.parquet. Points that
share a whole second (the charting library's time unit) are one point: the latest of them, with the
deepest drawdown among them.

Why: the run page used to read the whole equity.parquet (one row per candle time: ~55 ms of the HTML step
of a 1M-candle run) to draw 5,000 points; this costs a few ms while the run streams, and the page reads
the file's footer only. The report thins a file without it (runs of older versions) with the same code.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

CHART_KEY = b"plughost.equity_chart"  # key-value metadata of equity.parquet
MAX_BUCKETS = 1666
MAX_POINTS = 3 * MAX_BUCKETS + 2      # 5,000: three rows a group, and the first and last rows
_FINE = 16  # groups are first this much finer than needed, merged at the end: the row count is a guess
_KINDS = 3  # lowest equity, highest equity, deepest drawdown


@dataclass(frozen=True)
class EquityChart:
    """Rows of the equity curve for the run page: times (ms), equity, drawdown (percent, <= 0)."""

    ts_ms: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    rows: int  # rows of the whole curve

    def to_json(self) -> str:
        """{"rows": n, "t": ..., "equity": ..., "dd": ...}: each column base64 of its little-endian bytes
        (int64 ms, float64; NaN kept), ~4x cheaper to write and read than numbers spelled out in JSON."""
        def b64(values: np.ndarray, dtype: str) -> str:
            return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")

        return json.dumps({"rows": self.rows, "t": b64(self.ts_ms, "<i8"), "equity": b64(self.equity, "<f8"),
                           "dd": b64(self.drawdown, "<f8")}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> EquityChart | None:
        """None for anything but what `to_json` writes (a damaged or hand-edited footer)."""
        try:
            data: Any = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("rows"), int):
                return None
            ts, eq, dd = (np.frombuffer(base64.b64decode(data[k], validate=True), dtype=dtype).astype(dtype[1:])
                          for k, dtype in (("t", "<i8"), ("equity", "<f8"), ("dd", "<f8")))
        except (ValueError, TypeError, KeyError):  # binascii.Error is a ValueError
            return None
        if ts.shape != eq.shape or ts.shape != dd.shape:
            return None
        return cls(ts, eq, dd, data["rows"])


def _first_lowest(key: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the first smallest key of each segment (segments begin at `starts`; no NaN in `key`)."""
    lowest = np.minimum.reduceat(key, starts)
    hits = np.flatnonzero(key == np.repeat(lowest, np.diff(np.append(starts, len(key)))))
    return hits[np.searchsorted(hits, starts)]


def _group_lowest(key: np.ndarray, head: int, step: int) -> np.ndarray:
    """Index of the first smallest key of each group of a chunk: `head` rows ending the group the previous
    chunk began, then groups of `step` rows (the last one perhaps cut short). argmin over a reshaped view:
    a per-group reduction without a pass per group."""
    parts = [np.array([key[:head].argmin()])] if head else []
    m = (len(key) - head) // step
    if m:
        parts.append(head + np.arange(m) * step + key[head:head + m * step].reshape(m, step).argmin(axis=1))
    if head + m * step < len(key):
        parts.append(np.array([head + m * step + key[head + m * step:].argmin()]))
    return np.concatenate(parts)


def _keys(eq: np.ndarray, dd: np.ndarray, nan: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each kind minimises (NaN never wins)."""
    if not nan:
        return eq, -eq, dd
    nan = np.isnan(eq)
    return np.where(nan, np.inf, eq), np.where(nan, np.inf, -eq), np.where(np.isnan(dd), np.inf, dd)


class EquityChartSampler:
    """Feed the curve in chunks (`add`), in time order; `finish` gives the chart's rows."""

    def __init__(self, expected_rows: int, buckets: int = MAX_BUCKETS) -> None:
        self.buckets = buckets
        self.step = max(1, -(-expected_rows // (buckets * _FINE)))  # rows a fine group
        self.rows = 0
        self._peak = -np.inf
        # per kind: chunks of (group, row, key, ts, equity, drawdown) of each group's candidate row
        self._found: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(_KINDS)]
        self._ends: list[tuple[int, int, float, float]] = []  # (row, ts, equity, drawdown): first, last

    def add(self, ts: np.ndarray, eq: np.ndarray) -> None:
        n = len(ts)
        if not n:
            return
        eq = np.asarray(eq, dtype=np.float64)
        nan = bool(np.isnan(eq).any())
        peak = np.maximum.accumulate(np.where(np.isnan(eq), -np.inf, eq) if nan else eq)
        np.maximum(peak, self._peak, out=peak)
        self._peak = float(peak[-1])
        with np.errstate(divide="ignore", invalid="ignore"):  # in place: this runs on every row of a run
            dd = eq / peak
            dd -= 1.0
            dd *= 100.0
        if not peak[0] > 0:  # the peak never falls: only a first stretch can be <= 0 (no drawdown there)
            dd[~(peak > 0)] = 0.0
        head = min(n, (-self.rows) % self.step)
        for kind, key in enumerate(_keys(eq, dd, nan)):
            at = _group_lowest(key, head, self.step)
            group = (self.rows + at) // self.step
            self._found[kind].append((group, self.rows + at, key[at], ts[at], eq[at], dd[at]))
        ends = (0, n - 1) if not self._ends else (n - 1,)
        self._ends = self._ends[:1] + [(self.rows + i, int(ts[i]), float(eq[i]), float(dd[i])) for i in ends]
        self.rows += n
        while self.rows // self.step >= 2 * self.buckets * _FINE:  # far more rows than expected: coarser
            self._merge(2)
            self.step *= 2

    def _merge(self, factor: int) -> None:
        """Groups `factor` at a time, each kind's candidate the best of theirs."""
        for kind, found in enumerate(self._found):
            group, row, key, ts, eq, dd = (np.concatenate(c) for c in zip(*found, strict=True))
            group //= factor
            starts = np.flatnonzero(np.diff(group, prepend=group[0] - 1))
            at = _first_lowest(key, starts)
            self._found[kind] = [(group[at], row[at], key[at], ts[at], eq[at], dd[at])]

    def finish(self) -> EquityChart:
        if not self.rows:
            return EquityChart(np.empty(0, np.int64), np.empty(0), np.empty(0), 0)
        groups = -(-self.rows // self.step)
        self._merge(max(1, -(-groups // self.buckets)))
        ends = list(zip(*self._ends, strict=True))  # row, ts, equity, drawdown
        row, ts, eq, dd = (np.concatenate([found[0][i] for found in self._found] + [np.array(ends[j])])
                           for j, i in enumerate((1, 3, 4, 5)))
        row, index = np.unique(row.astype(np.int64), return_index=True)
        ts, eq, dd = ts[index].astype(np.int64), eq[index], dd[index]
        sec = ts // 1000
        last = np.flatnonzero(np.append(sec[1:] != sec[:-1], True))
        first = np.concatenate([[0], last[:-1] + 1])
        return EquityChart(ts[last], eq[last], np.minimum.reduceat(dd, first), self.rows)
