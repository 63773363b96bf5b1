"""custom-metrics: trade and risk statistics the core does not compute, computed from on_post_run's results.

Metrics (all land in summary.json under plugin_metrics["custom-metrics"]):
  sortino                mean excess return / downside deviation of the equity curve's period returns
                         (annualized unless `annualize: false`); null when there is no downside
  expectancy             mean P&L per closed trade (currency)
  avg_win, avg_loss      mean P&L of winning (> 0) and of losing (< 0) trades; avg_loss is negative
  win_loss_ratio         avg_win / |avg_loss|
  longest_losing_streak  most consecutive losing trades, in exit order
  time_in_market_pct     share of the run's time span with at least one position open (all symbols)
A metric that cannot be computed (no trades, no losing trade, ...) is reported as null, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from plughost_sdk import BacktestResults, FeaturePlugin, Trade

MS_PER_YEAR = 365.0 * 24 * 3600 * 1000
NAN = float("nan")


def period_returns(equity: Sequence[float]) -> list[float]:
    return [b / a - 1.0 for a, b in pairwise(equity) if a != 0]


def sortino(returns: Sequence[float], target: float = 0.0, periods_per_year: float | None = None) -> float:
    """Mean excess return over the downside deviation (root mean square of the shortfalls below
    `target`, over all periods), times sqrt(periods_per_year) when given."""
    if not returns:
        return NAN
    excess = [r - target for r in returns]
    downside = math.sqrt(sum(min(e, 0.0) ** 2 for e in excess) / len(excess))
    if downside == 0:
        return NAN
    ratio = (sum(excess) / len(excess)) / downside
    return ratio * math.sqrt(periods_per_year) if periods_per_year else ratio


def infer_periods_per_year(timestamps: Sequence[int]) -> float | None:
    gaps = sorted(b - a for a, b in pairwise(timestamps) if b > a)
    if not gaps:
        return None
    return MS_PER_YEAR / gaps[len(gaps) // 2]


def trade_stats(trades: Sequence[Trade]) -> dict[str, float]:
    pnl = [t.pnl for t in sorted(trades, key=lambda t: (t.exit_time, t.entry_time))]
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p < 0]
    streak = longest = 0
    for p in pnl:
        streak = streak + 1 if p < 0 else 0
        longest = max(longest, streak)
    avg_win = sum(wins) / len(wins) if wins else NAN
    avg_loss = sum(losses) / len(losses) if losses else NAN
    return {
        "expectancy": sum(pnl) / len(pnl) if pnl else NAN,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "win_loss_ratio": avg_win / -avg_loss if wins and losses else NAN,
        "longest_losing_streak": float(longest),
    }


def time_in_market_pct(trades: Sequence[Trade], start: int, end: int) -> float:
    """Percent of [start, end] covered by the union of the trades' [entry_time, exit_time]."""
    if end <= start:
        return NAN
    covered = 0
    reach = start
    for t in sorted(trades, key=lambda t: t.entry_time):
        lo, hi = max(t.entry_time, reach), min(t.exit_time, end)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return 100.0 * covered / (end - start)


class CustomMetrics(FeaturePlugin):
    name = "custom-metrics"
    version = "1.0.0"

    def initialize(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_post_run(self, results: BacktestResults) -> Mapping[str, Any]:
        cfg = self.config
        timestamps = list(results.equity.get("timestamp") or [])
        equity = list(results.equity.get("equity") or [])
        per_year = cfg.get("periods_per_year") or infer_periods_per_year(timestamps)
        metrics = {
            "sortino": sortino(period_returns(equity), float(cfg.get("target_return", 0.0)),
                               per_year if cfg.get("annualize", True) else None),
            **trade_stats(results.trades),
            "time_in_market_pct": time_in_market_pct(results.trades, timestamps[0], timestamps[-1])
            if timestamps else NAN,
        }
        wanted = cfg.get("metrics") or list(metrics)
        return {"metrics": {k: (v if v is not None and math.isfinite(v) else None)
                            for k, v in metrics.items() if k in wanted}}
