"""Properties of the order model on random streams and random strategies (Hypothesis).

- the host's event walk (`fastwalk.replay_arrays`) books exactly what the plain per-candle walk does;
- equity after each timestamp is cash plus the open positions marked at their last close;
- no order fills inside a candle the strategy had seen: every fill is on a later candle than the
  decision (or at its close with fill_at = "close"), at a price that candle traded (no slippage here);
- cutting the stream into batches anywhere between timestamps never changes anything.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plughost_sdk.fastwalk import replay_arrays
from plughost_sdk.orders import OrderBook, OrderSignal, Rules, walk

SYMBOLS = ["AAA", "BBB", "CCC"]


@st.composite
def streams(draw: Any) -> dict[str, Any]:
    k = draw(st.integers(1, 3))
    n_times = draw(st.integers(2, 40))
    rows = []
    price = [100.0, 50.0, 20.0]
    for t in range(n_times):
        for s in range(k):
            if k > 1 and draw(st.integers(0, 5)) == 0:
                continue  # a missing candle: symbols do not share every timestamp
            move = draw(st.floats(-0.08, 0.08))
            o = price[s]
            c = max(0.5, o * (1 + move))
            hi = max(o, c) * (1 + draw(st.floats(0, 0.03)))
            lo = min(o, c) * (1 - draw(st.floats(0, 0.03)))
            rows.append((t * 60_000, s, o, hi, lo, c))
            price[s] = c * (1 + draw(st.floats(-0.02, 0.02)))  # a gap to the next open
    used = sorted({r[1] for r in rows})
    if not rows:
        rows = [(0, 0, 100.0, 101.0, 99.0, 100.0)]
        used = [0]
    remap = {s: i for i, s in enumerate(used)}
    rows = [(t, remap[s], o, h, lo, c) for t, s, o, h, lo, c in rows]
    symbols = [SYMBOLS[s] for s in used]
    n = len(rows)
    signals = []
    for r in range(n):
        if draw(st.integers(0, 3)) != 0:
            continue
        for _ in range(draw(st.integers(1, 2))):
            signals.append((r, None, draw(signal(symbols, rows[r][5]))))
    rules = Rules(
        initial_capital=draw(st.sampled_from([1_000.0, 10_000.0])),
        fee_bps=draw(st.sampled_from([0.0, 5.0])),
        slippage_bps=0.0,
        size=draw(st.sampled_from([1.0, 5.0, 0.5])),
        size_mode=draw(st.sampled_from(["units", "notional", "fraction"])),
        leverage=draw(st.sampled_from([1.0, 3.0])),
        fill_at=draw(st.sampled_from(["next_open", "close"])),
    )
    if rules.size_mode == "notional":
        rules = Rules(**{**vars(rules), "size": 300.0})
    ends = [max(i for i, row in enumerate(rows) if row[1] == s) for s in range(len(symbols))]
    return {"rows": rows, "symbols": symbols, "signals": signals, "rules": rules, "ends": ends}


@st.composite
def signal(draw: Any, symbols: list[str], close: float) -> OrderSignal:
    kind = draw(st.sampled_from(["entry", "entry", "exit"]))
    side = draw(st.sampled_from(["long", "short"]))
    order = draw(st.sampled_from(["market", "market", "limit", "stop"]))
    level = close * draw(st.floats(0.95, 1.05))
    protect = draw(st.booleans()) and kind == "entry"
    sl = tp = trail = None
    if protect:
        below, above = close * draw(st.floats(0.85, 0.99)), close * draw(st.floats(1.01, 1.15))
        sl, tp = (below, above) if side == "long" else (above, below)
        if draw(st.booleans()):
            trail = draw(st.floats(0.5, 10.0))
    return OrderSignal(
        type=kind, side=side if kind == "entry" else None,
        size=draw(st.sampled_from([None, None, 0.5, 2.0])),
        price=level if order == "limit" else None, stop=level if order == "stop" else None,
        valid_for=draw(st.integers(1, 3)), stop_loss=sl, take_profit=tp, trail_pct=trail,
        symbol=draw(st.sampled_from([None, None, *symbols])), reason=None,
    )


def _plain(case: dict[str, Any], cuts: list[int] | None = None) -> tuple[OrderBook, list[list[float]]]:
    """The per-candle walk, batch by batch (cut before each row in `cuts`)."""
    rows, book = case["rows"], OrderBook(case["symbols"], case["rules"])
    curve: list[list[float]] = []
    bounds = [0, *(cuts or []), len(rows)]
    for lo, hi in itertools.pairwise(bounds):
        part = rows[lo:hi]
        if not part:
            continue
        cols = list(zip(*part, strict=True))
        by_row: dict[int, list[OrderSignal]] = {}
        for r, _, sig in case["signals"]:
            if lo <= r < hi:
                by_row.setdefault(r - lo, []).append(sig)
        ends = [e - lo for e in case["ends"] if lo <= e < hi]
        walk(book, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], ends, [], lambda a: (),
             lambda r, by_row=by_row: by_row.get(r, ()), lambda row, ts: curve.append([ts, book.equity()]))
    return book, curve


def _fast(case: dict[str, Any]) -> tuple[OrderBook, np.ndarray]:
    rows, book = case["rows"], OrderBook(case["symbols"], case["rules"])
    a = np.array(rows, dtype=np.float64)
    ts, eq, _ = replay_arrays(book, a[:, 0].astype(np.int64), a[:, 1].astype(np.int32), a[:, 2], a[:, 3], a[:, 4],
                              a[:, 5], case["ends"], [], case["signals"])  # type: ignore[misc]
    return book, np.column_stack([ts, eq])


def _same_books(a: OrderBook, b: OrderBook) -> None:
    assert (a.ignored, a.rejected, a.expired, a.liquidated) == (b.ignored, b.rejected, b.expired, b.liquidated)
    assert len(a.trades) == len(b.trades)
    for x, y in zip(a.trades, b.trades, strict=True):
        assert x._replace(pnl=0.0, fees=0.0) == y._replace(pnl=0.0, fees=0.0)
        assert math.isclose(x.pnl, y.pnl, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(a.cash, b.cash, rel_tol=1e-12, abs_tol=1e-9)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_the_event_walk_books_what_the_per_candle_walk_books(case: dict[str, Any]) -> None:
    plain, curve = _plain(case)
    fast, fast_curve = _fast(case)
    _same_books(plain, fast)
    assert len(curve) == len(fast_curve)
    for (t1, e1), (t2, e2) in zip(curve, fast_curve.tolist(), strict=True):
        assert t1 == t2 and math.isclose(e1, e2, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.data())
def test_batching_never_changes_anything(case: dict[str, Any], data: Any) -> None:
    rows = case["rows"]
    starts = [i for i in range(1, len(rows)) if rows[i][0] != rows[i - 1][0]]
    cuts = sorted(data.draw(st.sets(st.sampled_from(starts))) if starts else set())
    whole, curve = _plain(case)
    cut, cut_curve = _plain(case, cuts)
    _same_books(whole, cut)
    assert curve == cut_curve


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_equity_is_cash_plus_marks_and_fills_are_never_inside_a_seen_candle(case: dict[str, Any]) -> None:
    # Tag each signal with the time it was decided, so a trade tells which decision opened/closed it.
    case = {**case, "signals": [(r, a, sig._replace(reason=f"d{case['rows'][r][0]}:{sig.symbol or ''}"))
                                for r, a, sig in case["signals"]]}
    rows = case["rows"]
    book = OrderBook(case["symbols"], case["rules"])
    cols = list(zip(*rows, strict=True))
    by_row: dict[int, list[OrderSignal]] = {}
    for r, _, sig in case["signals"]:
        by_row.setdefault(r, []).append(sig)
    seen: dict[int, float] = {}

    def check(row: int, ts: int) -> None:
        marks = sum((h.units if h.side > 0 else -h.units) * (book.marks[s] if book.marks[s] is not None
                                                              else h.entry_price) for s, h in book.holdings.items())
        assert math.isclose(book.equity(), book.cash + marks, rel_tol=1e-12, abs_tol=1e-9)
        seen[ts] = book.equity()

    walk(book, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], case["ends"], [], lambda a: (),
         lambda r: by_row.get(r, ()), check)
    candle = {(case["symbols"][s], t): (lo, hi, c) for t, s, _, hi, lo, c in rows}
    close_fills = case["rules"].fill_at == "close"
    for trade in book.trades:
        for when, price, reason in ((trade.entry_time, trade.entry_price, trade.entry_reason),
                                    (trade.exit_time, trade.exit_price, trade.exit_reason)):
            tagged = bool(reason) and reason.startswith("d")  # type: ignore[union-attr]
            decided, other = (int(reason[1:].split(":")[0]), reason.split(":")[1]) if tagged else (None, "")
            if reason == "liquidated" or (trade.symbol, when) not in candle or (
                    close_fills and other and when == decided):
                # liquidations close at each position's last mark; a close fill for another symbol is
                # at that symbol's last close seen, timestamped with the deciding candle (docs/orders.md)
                assert reason == "liquidated" or close_fills, trade
                continue
            lo, hi, c = candle[(trade.symbol, when)]
            assert lo - 1e-9 <= price <= hi + 1e-9, (trade, lo, hi)
            if decided is not None:
                at_close = close_fills and when == decided and price == c
                assert when > decided or at_close, trade


@st.composite
def market_streams(draw: Any) -> dict[str, Any]:
    """One symbol, plain market orders only (the event walk's market lane), on rules and prices that
    reach every outcome: ignored and replaced signals, shorts, fees and slippage, cash too short for an
    entry, and liquidation (leverage 3, moves of up to 40 %)."""
    n = draw(st.integers(2, 60))
    rows, price = [], 100.0
    for t in range(n):
        o = price
        c = max(0.5, o * (1 + draw(st.floats(-0.4, 0.4))))
        rows.append((t * 60_000, 0, o, max(o, c) * 1.01, min(o, c) * 0.99, c))
        price = c * (1 + draw(st.floats(-0.05, 0.05)))
    signals = []
    for r in range(n):
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["entry", "entry", "exit"]))
            signals.append((r, None, OrderSignal(
                type=kind, side=draw(st.sampled_from(["long", "short"])) if kind == "entry" else None,
                size=draw(st.sampled_from([None, None, 0.5, 30.0])), reason=draw(st.sampled_from([None, "x"])))))
    mode = draw(st.sampled_from(["units", "notional", "fraction"]))
    rules = Rules(initial_capital=draw(st.sampled_from([100.0, 1_000.0, 10_000.0])),
                  fee_bps=draw(st.sampled_from([0.0, 7.0])), slippage_bps=draw(st.sampled_from([0.0, 3.0])),
                  size={"units": 5.0, "notional": 900.0, "fraction": 0.9}[mode], size_mode=mode,
                  leverage=draw(st.sampled_from([1.0, 3.0])))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1))))
    return {"rows": rows, "symbols": ["AAA"], "signals": signals, "rules": rules, "ends": [n - 1], "cuts": cuts}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_streams())
def test_the_market_lane_books_exactly_what_the_per_candle_walk_books(case: dict[str, Any]) -> None:
    """Bit for bit, in batches cut anywhere (a batch can start with the previous one's pending order)."""
    from plughost_sdk.fastwalk import _plain_market

    plain, curve = _plain(case)
    book = OrderBook(case["symbols"], case["rules"])
    a = np.array(case["rows"], dtype=np.float64)
    lanes, fast_curve = [], []
    for lo, hi in itertools.pairwise([0, *case["cuts"], len(a)]):
        by_row: dict[int, list[Any]] = {}
        for r, _, sig in case["signals"]:
            if lo <= r < hi:
                by_row.setdefault(r - lo, []).append(sig)
        lanes.append(_plain_market(book, by_row))
        part = a[lo:hi]
        ts, eq, _ = replay_arrays(book, part[:, 0].astype(np.int64), part[:, 1].astype(np.int32), part[:, 2],
                                  part[:, 3], part[:, 4], part[:, 5], [e - lo for e in case["ends"] if lo <= e < hi],
                                  [], [(r - lo, None, s) for r, _, s in case["signals"] if lo <= r < hi])  # type: ignore[misc]
        fast_curve += np.column_stack([ts, eq]).tolist()
    assert all(lanes)
    assert (book.cash, book.ignored, book.rejected, book.rejected_reasons, book.expired, book.liquidated) == (
        plain.cash, plain.ignored, plain.rejected, plain.rejected_reasons, plain.expired, plain.liquidated)
    assert book.trades == plain.trades
    assert fast_curve == curve
