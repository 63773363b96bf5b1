"""Metrics on hand-computed examples, JSON safety, and chunking invariance."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from plughost.executor.metrics import MetricsAccumulator

MIN = 60_000
TRADES: dict[str, list[Any]] = {
    "symbol": ["X", "X", "Y"],
    "entry_time": [0, 10 * MIN, 20 * MIN],
    "entry_price": [100.0, 100.0, 50.0],
    "exit_time": [5 * MIN, 12 * MIN, 30 * MIN],
    "exit_price": [110.0, 95.0, 60.0],
    "size": [1.0, 1.0, 2.0],
    "pnl": [10.0, -5.0, 20.0],
    "entry_reason": ["a", "b", "c"],
    "exit_reason": ["x", "y", "end_of_data"],
}


def run(equity: list[float], in_pos: list[bool] | None = None, *, chunk: int | None = None,
        step: int = MIN, trades: Mapping[str, Sequence[Any]] | None = None, capital: float = 1000.0,
        bh: float | None = 12.5) -> dict[str, float | int | None]:
    acc = MetricsAccumulator(initial_capital=capital)
    eq = np.array(equity, dtype=np.float64)
    ts = np.arange(len(eq), dtype=np.int64) * step
    pos = np.array(in_pos if in_pos is not None else [False] * len(eq))
    size = chunk or max(len(eq), 1)
    for i in range(0, len(eq), size):
        acc.add_equity(ts[i:i + size], eq[i:i + size], pos[i:i + size])
    return acc.finish(trades if trades is not None else {k: [] for k in TRADES}, buy_and_hold_return_pct=bh)


def test_trade_metrics_hand_computed() -> None:
    m = run([1000.0, 1010.0, 1005.0, 1025.0], [False, True, False, True], trades=TRADES)
    assert m["num_trades"] == 3
    assert m["total_pnl"] == 25.0
    assert m["return_pct"] == 2.5
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == 6.0  # (10 + 20) / 5
    assert m["avg_holding_ms"] == pytest.approx((5 + 2 + 10) * MIN / 3)
    assert m["avg_trade_pnl"] == pytest.approx(25 / 3)
    assert (m["best_trade"], m["worst_trade"]) == (20.0, -5.0)
    assert m["buy_and_hold_return_pct"] == 12.5
    assert m["final_equity"] == 1025.0
    assert m["exposure"] == 50.0


def test_drawdown_hand_computed() -> None:
    # peak 1200 -> trough 900: 300 = 25 %; later peak 1300 -> 1100: 200 (15.4 %)
    m = run([1000, 1200, 1000, 900, 1300, 1100, 1250])
    assert m["max_drawdown_abs"] == 300.0
    assert m["max_drawdown"] == pytest.approx(25.0)


def test_drawdown_counts_a_fall_below_initial_capital_from_the_start() -> None:
    m = run([990.0, 980.0, 1000.0])
    assert m["max_drawdown_abs"] == 20.0
    assert m["max_drawdown"] == pytest.approx(2.0)


def test_drawdown_percent_and_abs_may_come_from_different_falls() -> None:
    # 100 -> 50 is 50 % (abs 50); 1000 -> 800 is 20 % (abs 200)
    m = run([100, 50, 1000, 800], capital=100.0)
    assert m["max_drawdown"] == pytest.approx(50.0)
    assert m["max_drawdown_abs"] == 200.0


def test_sharpe_hand_computed() -> None:
    eq = [1000.0, 1010.0, 1000.0, 1020.0, 1030.0]
    m = run(eq, step=3_600_000)  # hourly
    r = np.diff(eq) / np.array(eq[:-1])
    expected = r.mean() / r.std(ddof=1) * math.sqrt(365.25 * 24)
    assert m["sharpe"] == pytest.approx(expected, rel=1e-12)


def test_sharpe_uses_median_spacing() -> None:
    acc = MetricsAccumulator(initial_capital=100.0)
    ts = np.array([0, 60_000, 120_000, 180_000, 10 * 86_400_000], dtype=np.int64)  # one weekend-like gap
    eq = np.array([100.0, 101.0, 100.5, 102.0, 101.0])
    acc.add_equity(ts, eq, np.zeros(5, bool))
    m = acc.finish({"pnl": []}, buy_and_hold_return_pct=None)
    r = np.diff(eq) / eq[:-1]
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365.25 * 1440), rel=1e-12)


@pytest.mark.parametrize("equity", [[], [1000.0], [1000.0, 1000.0, 1000.0]])
def test_undefined_values_are_none(equity: list[float]) -> None:
    m = run(equity)
    assert m["sharpe"] is None
    assert m["win_rate"] is None and m["profit_factor"] is None and m["avg_holding_ms"] is None
    assert m["best_trade"] is None and m["avg_trade_pnl"] is None
    assert m["num_trades"] == 0 and m["total_pnl"] == 0.0 and m["return_pct"] == 0.0
    if not equity:
        assert m["max_drawdown"] is None and m["exposure"] is None and m["final_equity"] == 1000.0
    else:
        assert m["max_drawdown"] == 0.0 and m["exposure"] == 0.0
    json.dumps(m, allow_nan=False)


def test_profit_factor_none_without_losses_and_zero_without_wins() -> None:
    assert run([1000.0], trades={"pnl": [1.0, 2.0], "entry_time": [0, 0], "exit_time": [1, 1]})[
        "profit_factor"] is None
    m = run([1000.0], trades={"pnl": [-1.0, 0.0], "entry_time": [0, 0], "exit_time": [1, 1]})
    assert m["profit_factor"] == 0.0 and m["win_rate"] == 0.0


def test_non_positive_equity_makes_sharpe_none_and_nan_benchmark_none() -> None:
    m = run([1000.0, 0.0, 10.0, 20.0], bh=float("nan"))
    assert m["sharpe"] is None and m["buy_and_hold_return_pct"] is None
    json.dumps(m, allow_nan=False)


def test_times_may_be_datetimes_or_datetime64() -> None:
    import datetime as dt

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    trades: dict[str, list[Any]] = {"pnl": [1.0, 2.0], "entry_time": [t0, np.datetime64("2024-01-01T00:00:00", "ms")],
              "exit_time": [t0 + dt.timedelta(minutes=1), np.datetime64("2024-01-01T00:03:00", "ms")]}
    assert run([1000.0], trades=trades)["avg_holding_ms"] == 2 * MIN


@pytest.mark.parametrize("chunk", [1, 7, 1000, 8191, 8193])
def test_chunking_never_changes_metrics(chunk: int) -> None:
    rng = np.random.default_rng(chunk)
    n = 20_000 if chunk > 1 else 9_000
    eq = (1000 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))).tolist()
    pos = (rng.random(n) > 0.5).tolist()
    assert run(eq, pos, chunk=chunk, trades=TRADES) == run(eq, pos, trades=TRADES)


def test_memory_does_not_grow_with_rows() -> None:
    acc = MetricsAccumulator(initial_capital=1000.0)
    rng = np.random.default_rng(0)
    for i in range(50):
        ts = (i * 10_000 + np.arange(10_000, dtype=np.int64)) * MIN
        acc.add_equity(ts, 1000 + rng.random(10_000), np.zeros(10_000, bool))
    assert acc._pending_n < 8192 and len(acc.spacings) == 1


def test_input_checks() -> None:
    with pytest.raises(ValueError):
        MetricsAccumulator(initial_capital=0.0)
    acc = MetricsAccumulator(initial_capital=1.0)
    with pytest.raises(ValueError, match="back in time"):
        acc.add_equity(np.array([2, 1]), np.array([1.0, 1.0]), np.array([False, False]))
    with pytest.raises(ValueError, match="same length"):
        acc.add_equity(np.array([1, 2]), np.array([1.0]), np.array([False, False]))
