"""`replay` for numpy callers: the same walk as `orders.walk`, visiting only the rows where something
can happen, with the equity curve computed as array work.

A batch of 8,192 candles usually holds a handful of decisions. Between them nothing can fill (no pending
order, no protective level: the book's `work` is empty, or its symbols have no candle there), so those
rows only move the marks, and their equity is `cash + units * close` with cash and units fixed. The walk
here calls the book only at event rows (signals, alerts, symbol ends, timestamp groups holding a symbol
with live orders, and a row where a liquidation check can trip) and leaves the rest to numpy. It makes
exactly the book calls `orders.walk` makes, in the same order, so results are identical (tested against
`orders.walk` on random streams, tests/executor/test_orders_property.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .orders import OrderBook, _Order

__all__ = ["replay_arrays"]


class _Log:
    """The book's state after each processed row: cash and signed units (+ entry price) per symbol."""

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.rows: list[int] = []
        self.cash: list[float] = []
        self.held: list[tuple[tuple[int, float, float], ...]] = []
        self.version = -1
        self.take(-1)

    def take(self, row: int) -> None:
        book = self.book
        if book.version == self.version:
            return  # nothing filled since the last entry: the state in force is unchanged
        self.version = book.version
        items = book.holdings.items()
        if len(items) == 1:  # the common case, without the generator (~1 us a fill)
            ((s, h),) = items
            held: tuple[tuple[int, float, float], ...] = ((s, h.units if h.side > 0 else -h.units, h.entry_price),)
        else:
            held = tuple((s, h.units if h.side > 0 else -h.units, h.entry_price) for s, h in sorted(items))
        if self.rows and self.rows[-1] == row:
            self.cash[-1], self.held[-1] = book.cash, held
            return
        self.rows.append(row)
        self.cash.append(book.cash)
        self.held.append(held)


def _ffill_close(sym: np.ndarray, close: np.ndarray, s: int, start_mark: float) -> np.ndarray:
    """Symbol s's last close at or before each row (start_mark before its first row in the batch)."""
    idx = np.where(sym == s, np.arange(len(sym)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = close[np.maximum(idx, 0)]
    out[idx < 0] = start_mark
    return out


def replay_arrays(
    book: OrderBook,
    timestamp: np.ndarray,
    symbol: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    ends: Iterable[int],
    alerts: Sequence[tuple[int, float | None, int, int]],
    signals: Iterable[tuple[int, int | None, Any]],
    *,
    equity: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Walk one batch whose decisions are known. Returns (timestamp, equity, in_position) after each
    timestamp group when `equity` is set."""
    n = len(timestamp)
    if n == 0:
        return (np.empty(0, np.int64), np.empty(0), np.empty(0, bool)) if equity else None
    sym = np.asarray(symbol, dtype=np.int64)
    ts = np.asarray(timestamp, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    is_start = np.zeros(n, bool)
    is_start[starts] = True
    group_end = np.r_[starts[1:], n] - 1  # per group
    group_of = np.cumsum(is_start) - 1  # row -> group index
    by_row: dict[int, list[Any]] = {}
    by_alert: dict[int, list[Any]] = {}
    for at, alert, sig in signals:
        (by_row.setdefault(at, []) if alert is None else by_alert.setdefault(alert, [])).append(sig)
    end_rows = set(int(e) for e in ends)
    single = book.symbols and len(book.symbols) == 1
    if single and not alerts and len(starts) == n:
        log = _Log(book) if equity else None
        start_marks = list(book.marks)
        _walk_one_symbol(book, ts, open_, high, low, close, end_rows, by_row, log)
        return None if log is None else _equity(log, sym, close, ts, starts, group_end, start_marks)
    alert_rows = {int(a[0]) for a in alerts}
    static = sorted(set(by_row) | end_rows | alert_rows)
    rows_of: dict[int, np.ndarray] = {}

    def symbol_rows(s: int) -> np.ndarray:
        found = rows_of.get(s)
        if found is None:
            found = rows_of[s] = np.arange(n) if single else np.flatnonzero(sym == s)
        return found

    group_index = group_of.tolist()
    starts_here = is_start.tolist()
    start_marks = list(book.marks)
    log = _Log(book) if equity else None
    # Event rows are a few per batch: numpy scalars read on demand beat converting whole columns.
    opens, highs, lows, closes = open_, high, low, close
    syms = sym
    a = 0
    cur = 0
    sp = 0  # pointer into `static`
    done_groups: set[int] = set()

    def next_work_start(cur: int) -> int:
        """The first group start >= cur whose group holds a symbol with live orders."""
        if single:  # every row is a timestamp group of the one symbol: the next row is the next fill
            return cur
        best = n
        cur_group = int(group_of[cur])
        for s in book.work:
            rows = symbol_rows(s)
            i = int(np.searchsorted(rows, cur))
            while i < len(rows):
                g = int(group_of[rows[i]])
                start = int(starts[g])
                if start >= cur and g not in done_groups:
                    best = min(best, start)
                    break
                if g == cur_group or g in done_groups:  # this group's fills are past: the next one
                    i = int(np.searchsorted(rows, group_end[g] + 1))
                    continue
                break
        return best

    def fast_forward(lo: int, hi: int) -> int:
        """Rows [lo, hi) where nothing fills or decides: move the marks; return the first row whose close
        trips a liquidation (else hi)."""
        if book.at_risk and book.holdings:
            eq = np.full(hi - lo, book.cash)
            for s, h in book.holdings.items():
                m = book.marks[s]
                seg = _ffill_close(sym[lo:hi], close[lo:hi], s, h.entry_price if m is None else m)
                eq += seg * h.units if h.side > 0 else -(seg * h.units)
            tripped = np.flatnonzero(eq <= 0)
            if len(tripped):
                hi = lo + int(tripped[0])
        if hi > lo:
            if single:
                book.marks[0] = float(closes[hi - 1])
            else:
                seg = sym[lo:hi][::-1]
                uniq, first = np.unique(seg, return_index=True)
                for s, k in zip(uniq.tolist(), first.tolist(), strict=True):
                    book.marks[s] = float(closes[hi - 1 - k])
        return hi

    while cur < n:
        while sp < len(static) and static[sp] < cur:
            sp += 1
        nxt = static[sp] if sp < len(static) else n
        if book.work:
            nxt = min(nxt, next_work_start(cur))
        if nxt > cur:
            tripped = fast_forward(cur, nxt)
            if tripped < nxt:
                nxt = tripped
        if nxt >= n:
            break
        r = nxt
        t = int(ts[r])
        g = group_index[r]
        if starts_here[r] and g not in done_groups:
            done_groups.add(g)
            while a < len(alerts) and alerts[a][0] <= r:
                _, price, s, when = alerts[a]
                for sig in by_alert.get(a, ()):
                    book.submit(sig, s, when, alert=(price, s, when))
                a += 1
            if book.work:
                stop = int(group_end[g]) + 1
                book.fill_group(t, [(int(syms[k]), float(opens[k]), float(highs[k]), float(lows[k]))
                                    for k in range(r, stop)])
        s = int(syms[r])
        c = float(close[r])
        book.marks[s] = c
        if book.at_risk and book.holdings:
            book.check_liquidation(t)
        for sig in by_row.get(r, ()):
            book.submit(sig, s, t, close=c)
        if r in end_rows:
            book.end_symbol(s, t)
        if log is not None:
            log.take(r)
        cur = r + 1
    if log is None:
        return None
    return _equity(log, sym, close, ts, starts, group_end, start_marks)


def _plain_market(book: OrderBook, by_row: dict[int, list[Any]]) -> bool:
    """True when every signal of the batch is a plain market order (no limit, stop or protective level)
    filled at the next open, and the book carries nothing else: no priced order pending, no protected
    position. Then the only work a candle can hold is one market order, which fills at its open."""
    if book.rules.fill_at != "next_open":
        return False
    for order in (*book.entry_orders.values(), *book.exit_orders.values()):
        if order.price is not None or order.stop is not None or order.stop_loss is not None \
                or order.take_profit is not None or order.trail_pct is not None:
            return False
    if any(h.protected for h in book.holdings.values()):
        return False
    return all(sig.price is None and sig.stop is None and sig.stop_loss is None and sig.take_profit is None
               and sig.trail_pct is None for sigs in by_row.values() for sig in sigs)


def _walk_one_symbol(book: OrderBook, ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                     close: np.ndarray, end_rows: set[int], by_row: dict[int, list[Any]], log: _Log | None) -> None:
    """`replay_arrays`'s walk for a one-symbol batch without alerts, where every row is its own timestamp
    group: the same book calls in the same order, with the bookkeeping of groups and symbols left out.
    (Why: this is every single-symbol run, and the generic loop's per-event overhead was ~40 % of the
    host's walk, ~5 us an event row.)

    When the batch is `_plain_market`, the market lane books its signals and fills without the book's
    general entry points: `submit`'s steps for a market order (ignored, liquidated, expired, then pending)
    and `_market_only`'s fill, calling the same `_open`/`_close`, so the arithmetic is the book's own
    (a property test holds the lane to the per-candle walk bit for bit). Why: those entry points check for
    levels and priced orders the batch cannot hold; skipping them takes 1M candles with 39k signals from
    ~290 to ~245 ms of CPU, 100k signals from ~700 to ~550 ms (medians of 7, this machine)."""
    n = len(ts)
    events = sorted(set(by_row) | end_rows)
    marks = book.marks
    lane = _plain_market(book, by_row)
    fraction = book.rules.size_mode == "fraction"
    holdings, entries, exits, work = book.holdings, book.entry_orders, book.exit_orders, book.work
    e = 0
    cur = 0
    while cur < n:
        if work:  # an order or a level is live: every candle can fill
            nxt = cur
        else:
            while e < len(events) and events[e] < cur:
                e += 1
            nxt = events[e] if e < len(events) else n
            if nxt > cur:
                if book.at_risk and holdings:  # the first close in between that takes equity to zero
                    h = holdings[0]
                    seg = close[cur:nxt]
                    eq = np.full(nxt - cur, book.cash)
                    eq += seg * h.units if h.side > 0 else -(seg * h.units)
                    tripped = np.flatnonzero(eq <= 0)
                    if len(tripped):
                        nxt = cur + int(tripped[0])
                if nxt > cur:
                    marks[0] = float(close[nxt - 1])
            if nxt >= n:
                return
        r = nxt
        t = int(ts[r])
        if work:
            held = holdings.get(0)
            order = (entries if held is None else exits)[0] if lane else None
            if order is not None and t >= order.from_ts:  # the one market order fills at this open
                if held is None:
                    book._open(0, order, float(open_[r]), t, True, t)
                else:
                    book._close(0, order, float(open_[r]), t, True, order.reason)
                book._refresh(0)
            else:
                book.fill_group(t, ((0, float(open_[r]), float(high[r]), float(low[r])),))
        c = float(close[r])
        marks[0] = c
        if book.at_risk and holdings:
            book.check_liquidation(t)
        for sig in by_row.get(r, ()):
            if not lane:
                book.submit(sig, 0, t, close=c)
                continue
            entry = sig.type == "entry"  # `submit`'s steps for a market order filled at the next open
            held = holdings.get(0)
            if entry == (held is not None):
                book.ignored += 1
            elif entry and book.liquidated:
                book._reject("liquidated")
            elif 0 in book.ended:
                book.expired += 1
            else:
                side = (-1 if sig.side == "short" else 1) if entry else held.side  # type: ignore[union-attr]
                (entries if entry else exits)[0] = _Order(sig, entry, side, book.equity() if fraction else 0.0,
                                                           t + 1)
                work.add(0)
        if r in end_rows:
            book.end_symbol(0, t)
        if log is not None and book.version != log.version:
            log.take(r)
        cur = r + 1


def _equity(log: _Log, sym: np.ndarray, close: np.ndarray, ts: np.ndarray, starts: np.ndarray,
            group_end: np.ndarray, start_marks: list[float | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.asarray(log.rows, dtype=np.int64)
    state = np.searchsorted(rows, group_end, side="right") - 1  # the state in force at each group's end
    cash = np.asarray(log.cash)[state]
    equity = cash.copy()
    held_any = np.asarray([bool(h) for h in log.held])[state]
    symbols = sorted({s for held in log.held for s, _, _ in held})
    for s in symbols:
        units = np.zeros(len(log.held))
        entry = np.zeros(len(log.held))
        for i, held in enumerate(log.held):
            for hs, signed, price in held:
                if hs == s:
                    units[i], entry[i] = signed, price
        held_units = units[state]
        if not held_units.any():
            continue
        start = start_marks[s]
        marks: np.ndarray = _ffill_close(sym, close, s, np.nan if start is None else start)[group_end]
        missing = np.isnan(marks)
        if missing.any():  # no close of this symbol seen yet: marked at its entry price
            marks[missing] = entry[state][missing]
        equity += held_units * marks
    return ts[starts], equity, held_any
