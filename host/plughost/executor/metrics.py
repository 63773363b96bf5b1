"""Run metrics, accumulated while the equity curve streams past (memory does not grow with rows).

| metric                    | definition                                                                     | empty |
|---------------------------|--------------------------------------------------------------------------------|-------|
| `num_trades`              | number of closed trades                                                        | 0     |
| `total_pnl`               | sum of trade `pnl` (after fees)                                                | 0.0   |
| `return_pct`              | total_pnl / initial_capital * 100                                              | 0.0   |
| `win_rate`                | fraction (0..1) of trades with pnl > 0                                         | None  |
| `profit_factor`           | sum of winning pnl / abs(sum of losing pnl); None when there is no losing trade| None  |
| `max_drawdown`            | largest fall of equity from its running peak, as a positive percent of that    | None  |
|                           | peak; the peak starts at initial_capital                                       |       |
| `max_drawdown_abs`        | largest fall of equity from its running peak, in currency                      | None  |
| `sharpe`                  | mean / sample std (ddof=1) of per-row equity returns e[i]/e[i-1] - 1,          | None  |
|                           | times sqrt(periods per year), periods per year = 365.25 days / median positive |       |
|                           | spacing of the equity timestamps; None with < 2 returns, zero std, or an equity|       |
|                           | value <= 0 before a return                                                     |       |
| `sortino`                 | mean / downside deviation sqrt(mean(min(r, 0)^2)) of the same returns, times   | None  |
|                           | sqrt(periods per year); None where sharpe is, or with no negative return       |       |
| `cagr`                    | compound annual growth, percent: ((final / initial) ^ (1 / years) - 1) * 100,  | None  |
|                           | years = (last - first equity timestamp) / one year; None for a span under a day|       |
|                           | or a final equity <= 0                                                         |       |
| `calmar`                  | cagr / max_drawdown (both percent); None when either is None or drawdown is 0  | None  |
| `exposure`                | percent of equity rows with a position open (long or short)                    | None  |
| `avg_holding_ms`          | mean of exit_time - entry_time over trades, in ms                              | None  |
| `avg_trade_pnl`           | total_pnl / num_trades                                                         | None  |
| `best_trade`/`worst_trade`| largest / smallest trade pnl                                                   | None  |
| `buy_and_hold_return_pct` | passed in by the caller                                                        | None  |
| `final_equity`            | last equity value (initial_capital + total_pnl when no equity rows were fed)   |       |

Every value is an int, a float or None (never NaN or inf), so the dict is JSON-safe. One year is 365.25
days everywhere (Sharpe and Sortino annualization, CAGR).

Batching never changes results: the return statistics are summed in fixed blocks of rows anchored at
the first row (rows are re-buffered across `add_equity` calls), so the floats come out the same however
the curve was chunked. Drawdown uses running maxima, which round nothing.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MetricsAccumulator"]

_BLOCK = 8192
_YEAR_MS = 365.25 * 86_400_000
_MAX_SPACINGS = 4096  # distinct timestamp spacings tracked exactly; beyond that they are coarsened


def _clean(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _to_ms(v: Any) -> float:
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        return float(v.timestamp()) * 1000.0
    if isinstance(v, np.datetime64):
        return float(v.astype("datetime64[ms]").astype(np.int64))
    return float(v)


class MetricsAccumulator:
    def __init__(self, *, initial_capital: float) -> None:
        if not (math.isfinite(initial_capital) and initial_capital > 0):
            raise ValueError(f"initial_capital must be a positive number, got {initial_capital!r}")
        self.initial_capital = float(initial_capital)
        self.rows = 0
        self.rows_in_position = 0
        self.peak = self.initial_capital
        self.max_dd_abs = 0.0
        self.max_dd_pct = 0.0
        self.last_equity: float | None = None
        self.last_ts: int | None = None
        self.first_ts: int | None = None
        self.down_sq = 0.0  # sum of min(r, 0)^2, merged block by block like the mean
        self.bad_base = False  # an equity <= 0 was followed by a return: sharpe is undefined
        # Return statistics, merged block by block (Chan et al.): count, mean, M2.
        self.ret_n = 0
        self.ret_mean = 0.0
        self.ret_m2 = 0.0
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self.spacings: dict[int, int] = {}
        self._spacing_digits: int | None = None

    def add_equity(self, timestamp: np.ndarray, equity: np.ndarray, in_position: np.ndarray) -> None:
        ts = np.asarray(timestamp, dtype=np.int64)
        eq = np.asarray(equity, dtype=np.float64)
        pos = np.asarray(in_position, dtype=bool)
        n = len(eq)
        if not (len(ts) == n == len(pos)):
            raise ValueError("timestamp, equity and in_position must have the same length")
        if n == 0:
            return
        if not np.isfinite(eq).all():
            raise ValueError("equity contains NaN or inf")
        gaps = np.diff(ts) if self.last_ts is None else np.diff(np.r_[self.last_ts, ts])
        if (gaps < 0).any():
            raise ValueError("equity timestamps must not go back in time")
        self._count_spacings(gaps[gaps > 0])
        if self.first_ts is None:
            self.first_ts = int(ts[0])

        self.rows += n
        self.rows_in_position += int(pos.sum())
        peaks = np.maximum.accumulate(np.r_[self.peak, eq])[1:]
        falls = peaks - eq
        self.max_dd_abs = max(self.max_dd_abs, float(falls.max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(peaks > 0, falls / peaks * 100.0, 0.0)
        self.max_dd_pct = max(self.max_dd_pct, float(pct.max()))
        self.peak = float(peaks[-1])

        base = eq[:-1] if self.last_equity is None else np.r_[self.last_equity, eq[:-1]]
        cur = eq[1:] if self.last_equity is None else eq
        if len(base):
            if (base <= 0).any():
                self.bad_base = True
            with np.errstate(divide="ignore", invalid="ignore"):
                self._buffer_returns(cur / base - 1.0)
        self.last_equity = float(eq[-1])
        self.last_ts = int(ts[-1])

    # -- streaming helpers ---------------------------------------------------------------------------
    def _buffer_returns(self, r: np.ndarray) -> None:
        self._pending.append(r)
        self._pending_n += len(r)
        if self._pending_n < _BLOCK:
            return
        allr = np.concatenate(self._pending)
        full = len(allr) // _BLOCK * _BLOCK
        for start in range(0, full, _BLOCK):
            self._merge(allr[start:start + _BLOCK].copy())
        rest = allr[full:].copy()
        self._pending = [rest] if len(rest) else []
        self._pending_n = len(rest)

    def _merge(self, block: np.ndarray) -> None:
        if self.bad_base or not len(block):
            return
        nb = len(block)
        self.down_sq += float((np.minimum(block, 0.0) ** 2).sum())
        mb = float(block.sum()) / nb
        m2b = float(((block - mb) ** 2).sum())
        n = self.ret_n + nb
        delta = mb - self.ret_mean
        self.ret_mean += delta * nb / n
        self.ret_m2 += m2b + delta * delta * self.ret_n * nb / n
        self.ret_n = n

    def _count_spacings(self, gaps: np.ndarray) -> None:
        if not len(gaps):
            return
        if self._spacing_digits is not None:
            gaps = self._coarsen(gaps)
        values, counts = np.unique(gaps, return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            self.spacings[v] = self.spacings.get(v, 0) + c
        if len(self.spacings) > _MAX_SPACINGS:
            # Pathologically irregular timestamps: keep 3 significant digits so memory stays bounded;
            # the median (and so the annualization) is then approximate to ~0.1%.
            self._spacing_digits = 3
            merged: dict[int, int] = {}
            keys = self._coarsen(np.array(list(self.spacings), dtype=np.int64)).tolist()
            for k, c in zip(keys, self.spacings.values(), strict=True):
                merged[k] = merged.get(k, 0) + c
            self.spacings = merged

    def _coarsen(self, gaps: np.ndarray) -> np.ndarray:
        digits = self._spacing_digits or 3
        mag = np.floor(np.log10(np.maximum(gaps, 1))).astype(np.int64)
        scale = np.power(10, np.maximum(mag - digits + 1, 0))
        return np.asarray((gaps // scale) * scale, dtype=np.int64)

    def _median_spacing(self) -> float | None:
        total = sum(self.spacings.values())
        if not total:
            return None
        keys = sorted(self.spacings)
        # Median of the multiset: mean of the two middle values when the count is even.
        lo_rank, hi_rank = (total - 1) // 2, total // 2
        seen = 0
        lo = hi = None
        for k in keys:
            c = self.spacings[k]
            if lo is None and lo_rank < seen + c:
                lo = k
            if hi_rank < seen + c:
                hi = k
                break
            seen += c
        assert lo is not None and hi is not None
        return (lo + hi) / 2.0

    def _ratios(self) -> tuple[float | None, float | None]:
        """(sharpe, sortino)."""
        if self.bad_base:
            return None, None
        if self._pending_n:
            self._merge(np.concatenate(self._pending))
            self._pending, self._pending_n = [], 0
        if self.ret_n < 2:
            return None, None
        var = self.ret_m2 / (self.ret_n - 1)
        spacing = self._median_spacing()
        if not var > 0 or spacing is None or spacing <= 0:
            return None, None
        annual = math.sqrt(_YEAR_MS / spacing)
        sharpe = _clean(self.ret_mean / math.sqrt(var) * annual)
        downside = math.sqrt(self.down_sq / self.ret_n)
        sortino = _clean(self.ret_mean / downside * annual) if downside > 0 else None
        return sharpe, sortino

    def _cagr(self, final: float) -> float | None:
        if self.first_ts is None or self.last_ts is None or final <= 0:
            return None
        years = (self.last_ts - self.first_ts) / _YEAR_MS
        if years * 365.25 < 1:
            return None
        try:
            return _clean(((final / self.initial_capital) ** (1 / years) - 1) * 100.0)
        except OverflowError:
            return None

    # -- result ----------------------------------------------------------------------------------------
    def finish(
        self, trades: Mapping[str, Sequence[Any]], *, buy_and_hold_return_pct: float | None
    ) -> dict[str, float | int | None]:
        pnl = [float(x) for x in trades.get("pnl", [])]
        n = len(pnl)
        total = math.fsum(pnl)
        wins = [x for x in pnl if x > 0]
        losses = [x for x in pnl if x < 0]
        gross_win = math.fsum(wins)
        gross_loss = -math.fsum(losses)
        holding: float | None = None
        if n:
            entry = trades.get("entry_time", [])
            exit_ = trades.get("exit_time", [])
            if len(entry) == n and len(exit_) == n:
                holding = math.fsum(_to_ms(b) - _to_ms(a) for a, b in zip(entry, exit_, strict=True)) / n
        final = self.last_equity if self.last_equity is not None else self.initial_capital + total
        has_rows = self.rows > 0
        sharpe, sortino = self._ratios()
        max_dd = _clean(self.max_dd_pct) if has_rows else None
        cagr = self._cagr(final) if has_rows else None
        return {
            "num_trades": n,
            "total_pnl": _clean(total),
            "return_pct": _clean(total / self.initial_capital * 100.0),
            "win_rate": _clean(len(wins) / n) if n else None,
            "profit_factor": _clean(gross_win / gross_loss) if gross_loss > 0 else None,
            "max_drawdown": max_dd,
            "max_drawdown_abs": _clean(self.max_dd_abs) if has_rows else None,
            "sharpe": sharpe,
            "sortino": sortino,
            "cagr": cagr,
            "calmar": _clean(cagr / max_dd) if cagr is not None and max_dd else None,
            "exposure": _clean(self.rows_in_position / self.rows * 100.0) if has_rows else None,
            "avg_holding_ms": _clean(holding),
            "avg_trade_pnl": _clean(total / n) if n else None,
            "best_trade": _clean(max(pnl)) if n else None,
            "worst_trade": _clean(min(pnl)) if n else None,
            "buy_and_hold_return_pct": _clean(buy_and_hold_return_pct),
            "final_equity": _clean(final),
        }
