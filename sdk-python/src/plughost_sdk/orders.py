"""The order and portfolio model (docs/orders.md): one order book for a run's whole stream.

This module is pure Python with no dependencies, so that one implementation serves both sides: the host
(the authority, which books the results) and the Python SDK's mirror (which makes `ctx.position`,
`ctx.cash` and `ctx.equity` right inside a batch). The TypeScript SDK ports it; the shared vectors in
protocol/vectors/orders.json pin all three. Formulas are written in the order docs/orders.md states
them, so every implementation performs the same floating-point operations.

One module of ~600 lines, on purpose: it is the unit the TypeScript port (sdk-typescript/src/orders.ts)
follows function by function, and the unit the vectors and the differential test pin; split in two, a
reviewer could no longer hold the model beside its port.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "Holding",
    "OrderBook",
    "OrderSignal",
    "Rules",
    "TradeRecord",
    "replay",
    "signal_problem",
    "walk",
]

# Lets an all-in `fraction` sizing of 1.0 pass the cash check despite rounding (docs/orders.md 4).
CASH_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Rules:
    initial_capital: float = 10_000.0
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    size: float = 1.0
    size_mode: str = "units"
    leverage: float = 1.0
    fill_at: str = "next_open"

    @classmethod
    def from_wire(cls, raw: Any) -> Rules:
        raw = raw if isinstance(raw, dict) else {}
        base = cls()
        return cls(
            initial_capital=float(raw.get("initial_capital", base.initial_capital)),
            fee_bps=float(raw.get("fee_bps", base.fee_bps)),
            slippage_bps=float(raw.get("slippage_bps", base.slippage_bps)),
            size=float(raw.get("size", base.size)),
            size_mode=str(raw.get("size_mode", base.size_mode)),
            leverage=float(raw.get("leverage", base.leverage)),
            fill_at=str(raw.get("fill_at", base.fill_at)),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "initial_capital": self.initial_capital, "fee_bps": self.fee_bps, "slippage_bps": self.slippage_bps,
            "size": self.size, "size_mode": self.size_mode, "leverage": self.leverage, "fill_at": self.fill_at,
        }


class TradeRecord(NamedTuple):
    """One exit fill (a partial exit is a trade of its part); times in ms since the epoch."""

    symbol: str
    side: str
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    size: float
    fees: float
    pnl: float
    entry_reason: str | None
    exit_reason: str | None


SIGNAL_FIELDS = ("type", "side", "size", "price", "stop", "valid_for", "stop_loss", "take_profit", "trail_pct",
                 "symbol", "reason")


class OrderSignal(NamedTuple):
    """A decided signal as the book takes it (the wire's signal map without `at`/`alert`)."""

    type: str
    side: str | None = None
    size: float | None = None
    price: float | None = None
    stop: float | None = None
    valid_for: int | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trail_pct: float | None = None
    symbol: str | None = None
    reason: str | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> OrderSignal:
        return cls(*(raw.get(f) for f in SIGNAL_FIELDS))  # type: ignore[arg-type]


class _Order:
    __slots__ = ("entry", "equity", "from_ts", "left", "price", "reason", "side", "size", "stop", "stop_loss",
                 "take_profit", "trail_pct")

    def __init__(self, sig: Any, entry: bool, side: int, equity: float, from_ts: int) -> None:
        self.entry = entry
        self.side = side  # of the position it opens or closes: +1 long, -1 short
        self.size: float | None = sig.size
        self.price: float | None = sig.price
        self.stop: float | None = sig.stop
        self.left: int = sig.valid_for or 1
        self.reason: str | None = sig.reason
        self.stop_loss: float | None = sig.stop_loss if entry else None
        self.take_profit: float | None = sig.take_profit if entry else None
        self.trail_pct: float | None = sig.trail_pct if entry else None
        self.equity = equity
        self.from_ts = from_ts  # tried on candles at or after this time

    @property
    def buys(self) -> bool:
        return (self.side > 0) == self.entry


class Holding:
    """An open position with its protective levels."""

    __slots__ = ("best", "entry_price", "entry_reason", "entry_time", "fee_left", "live_from", "side", "stop_loss",
                 "take_profit", "trail_pct", "units")

    def __init__(self, side: int, units: float, price: float, time: int, reason: str | None, fee: float,
                 order: _Order, live_from: int) -> None:
        self.side = side
        self.units = units
        self.entry_price = price
        self.entry_time = time
        self.entry_reason = reason
        self.fee_left = fee
        self.stop_loss = order.stop_loss
        self.take_profit = order.take_profit
        self.trail_pct = order.trail_pct
        self.best = price
        self.live_from = live_from  # protective exits act on candles at or after this time

    @property
    def protected(self) -> bool:
        return self.stop_loss is not None or self.take_profit is not None or self.trail_pct is not None

    def trail_level(self) -> float | None:
        if self.trail_pct is None:
            return None
        if self.side > 0:
            return self.best * (1 - self.trail_pct / 100)
        return self.best * (1 + self.trail_pct / 100)


def _positive(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value > 0


def signal_problem(sig: Any, symbols: Sequence[str] | frozenset[str]) -> str | None:
    """Why a (non-hold) signal cannot be booked, or None. The host fails the run on any problem
    (PLUGIN_PROTOCOL_ERROR); the SDK mirror skips such a signal."""
    if sig.type not in ("entry", "exit"):
        return f"type must be 'entry', 'exit' or 'hold', got {sig.type!r}"
    if sig.side not in (None, "long", "short"):
        return f"side must be 'long' or 'short', got {sig.side!r}"
    for name in ("size", "price", "stop", "stop_loss", "take_profit"):
        value = getattr(sig, name)
        if value is not None and not _positive(value):
            return f"{name} must be a finite number > 0, got {value!r}"
    if sig.trail_pct is not None and not (_positive(sig.trail_pct) and sig.trail_pct < 100):
        return f"trail_pct must be a percent in (0, 100), got {sig.trail_pct!r}"
    if sig.valid_for is not None and not (type(sig.valid_for) is int and sig.valid_for >= 1):
        return f"valid_for must be an integer >= 1, got {sig.valid_for!r}"
    if sig.price is not None and sig.stop is not None:
        return "price and stop together (stop-limit orders are not supported)"
    if sig.type == "entry" and sig.stop_loss is not None and sig.take_profit is not None:
        short = sig.side == "short"
        if (sig.stop_loss >= sig.take_profit) if not short else (sig.stop_loss <= sig.take_profit):
            where = "above" if short else "below"
            return (f"stop_loss {sig.stop_loss} must be {where} take_profit {sig.take_profit} "
                    f"for a {'short' if short else 'long'} entry")
    if sig.symbol is not None and sig.symbol not in symbols:
        return f"symbol {sig.symbol!r} is not a symbol of this run"
    return None


class OrderBook:
    """Cash, positions, pending orders and trades of one run (docs/orders.md)."""

    def __init__(self, symbols: Sequence[str], rules: Rules, *, keep_trades: bool = True) -> None:
        self.symbols = list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.rules = rules
        self.keep_trades = keep_trades
        self.cash = float(rules.initial_capital)
        self.marks: list[float | None] = [None] * len(self.symbols)
        self.holdings: dict[int, Holding] = {}
        self.entry_orders: dict[int, _Order] = {}
        self.exit_orders: dict[int, _Order] = {}
        self.ended: set[int] = set()
        self.ignored = 0
        self.rejected = 0
        self.rejected_reasons: dict[str, int] = {}
        self.expired = 0
        self.liquidated = False
        self.liquidated_at: int | None = None
        self.trades: list[TradeRecord] = []
        self.trade_count = 0
        # Symbols whose candles can fill something: a pending order or a protective level.
        self.work: set[int] = set()
        # Equity can reach zero only with a short open or cash below zero (prices are > 0).
        self.at_risk = False
        self.shorts = 0
        self.version = 0  # bumped by every fill: lets a caller see whether the cash or positions moved

    # -- state -----------------------------------------------------------------------------------
    def mark(self, s: int) -> float:
        h = self.holdings[s]
        m = self.marks[s]
        return h.entry_price if m is None else m

    def equity(self) -> float:
        eq = self.cash
        marks = self.marks
        for s, h in self.holdings.items():
            m = marks[s]
            if m is None:
                m = h.entry_price
            eq += h.units * m if h.side > 0 else -(h.units * m)
        return eq

    def _refresh(self, s: int) -> None:
        h = self.holdings.get(s)
        if s in self.entry_orders or s in self.exit_orders or (h is not None and h.protected):
            self.work.add(s)
        else:
            self.work.discard(s)
        self.at_risk = self.cash < 0 or self.shorts > 0

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self.rejected_reasons[reason] = self.rejected_reasons.get(reason, 0) + 1

    # -- decisions -------------------------------------------------------------------------------
    def submit(self, sig: Any, s: int, ts: int, *, close: float | None = None,
               alert: tuple[float | None, int, int] | None = None) -> None:
        """Book one non-hold, valid signal decided on symbol `s`'s event at time `ts`.

        `close`: the close of the candle just seen (candle decisions); `alert`: (price, symbol, time) of
        the alert that decided it (alert decisions)."""
        target = s if sig.symbol is None else self.index[sig.symbol]
        entry = sig.type == "entry"
        holding = self.holdings.get(target)
        if entry == (holding is not None):
            self.ignored += 1
            return
        if entry and self.liquidated:
            self._reject("liquidated")
            return
        if target in self.ended:
            self.expired += 1
            return
        side = (-1 if sig.side == "short" else 1) if entry else holding.side  # type: ignore[union-attr]
        from_ts = alert[2] if alert is not None else ts + 1
        # the equity at decision only sizes `fraction` orders: not computed for the others
        order = _Order(sig, entry, side, self.equity() if self.rules.size_mode == "fraction" else 0.0, from_ts)
        book = self.entry_orders if entry else self.exit_orders
        if order.price is None and order.stop is None:
            now: float | None = None
            if alert is not None:
                if alert[0] is not None and alert[1] == target:
                    now = alert[0]
            elif self.rules.fill_at == "close":
                now = close if target == s else self.marks[target]
                if now is None:
                    self._reject("no_price")
                    return
            if now is not None:
                book.pop(target, None)
                if entry:
                    self._open(target, order, now, ts, True, ts + 1 if alert is None else ts)
                else:
                    self._close(target, order, now, ts, True, order.reason)
                self._refresh(target)
                return
        book[target] = order
        self._refresh(target)

    # -- fills -----------------------------------------------------------------------------------
    def _slipped(self, price: float, buy: bool) -> float:
        bps = self.rules.slippage_bps
        if not bps:
            return price
        return price * (1 + bps / 10000) if buy else price * (1 - bps / 10000)

    def _units(self, order: _Order, price: float) -> float:
        size = self.rules.size if order.size is None else order.size
        mode = self.rules.size_mode
        if mode == "notional":
            return size / price
        if mode == "fraction":
            return size * order.equity / (price * (1 + self.rules.fee_bps / 10000))
        return size

    def _open(self, s: int, order: _Order, raw: float, ts: int, slip: bool, live_from: int) -> bool:
        self.entry_orders.pop(s, None)
        side = order.side
        price = self._slipped(raw, side > 0) if slip else raw
        units = self._units(order, price)
        fee = units * price * self.rules.fee_bps / 10000
        notional = units * price
        for k, h in self.holdings.items():
            notional += h.units * self.mark(k)
        if notional + fee > self.rules.leverage * self.equity() * (1 + CASH_TOLERANCE):
            self._reject("insufficient_cash")
            return False
        if side > 0:
            self.cash -= units * price + fee
        else:
            self.cash += units * price - fee
            self.shorts += 1
        self.holdings[s] = Holding(side, units, price, ts, order.reason, fee, order, live_from)
        self.version += 1
        return True

    def _close(self, s: int, order: _Order | None, raw: float, ts: int, slip: bool, reason: str | None,
               units: float | None = None) -> None:
        h = self.holdings[s]
        sell = h.side > 0
        price = self._slipped(raw, not sell) if slip else raw
        if units is None and order is not None and order.size is not None:
            units = self._units(order, price)
        if units is None or units >= h.units:
            units = h.units
        if order is not None:
            self.exit_orders.pop(s, None)
        fee = units * price * self.rules.fee_bps / 10000
        share = h.fee_left if units == h.units else h.fee_left * (units / h.units)
        if sell:
            gross = (price - h.entry_price) * units
            self.cash += units * price - fee
        else:
            gross = (h.entry_price - price) * units
            self.cash -= units * price + fee
        fees = share + fee
        self.trade_count += 1
        if self.keep_trades:
            self.trades.append(TradeRecord(
                self.symbols[s], "long" if sell else "short", h.entry_time, h.entry_price, ts, price, units, fees,
                gross - fees, h.entry_reason, reason,
            ))
        self.version += 1
        if units == h.units:
            del self.holdings[s]
            self.exit_orders.pop(s, None)
            if not sell:
                self.shorts -= 1
        else:
            h.units -= units
            h.fee_left -= share

    def fill_group(self, ts: int, rows: Iterable[tuple[int, float, float, float]]) -> None:
        """Fills at timestamp `ts` over its candles `(symbol, open, high, low)` in symbol order
        (docs/orders.md section 3). Only symbols in `self.work` need to be passed."""
        rows = [r for r in rows if r[0] in self.work]
        if not rows:
            return
        if len(rows) == 1 and self._market_only(rows[0], ts):
            return
        for s, o, _, _ in rows:  # (a) exits at the open
            order = self.exit_orders.get(s)
            if order is not None and ts >= order.from_ts and s in self.holdings and self._at_open(order, o):
                self._close(s, order, o, ts, order.price is None, order.reason)
            h = self.holdings.get(s)
            if h is not None and ts >= h.live_from:
                self._protect_at_open(s, h, o, ts)
        for s, o, _, _ in rows:  # (b) entries at the open
            order = self.entry_orders.get(s)
            if order is not None and ts >= order.from_ts and s not in self.holdings and self._at_open(order, o):
                self._open(s, order, o, ts, order.price is None, ts)
        tried: list[tuple[int, _Order]] = []
        for s, o, hi, lo in rows:  # (c) levels inside the range: stops first, then limits
            entry = self.entry_orders.get(s)
            exit_ = self.exit_orders.get(s)
            if entry is not None and ts >= entry.from_ts:
                tried.append((s, entry))
            if exit_ is not None and ts >= exit_.from_ts:
                tried.append((s, exit_))
            self._inside(s, ts, o, hi, lo, stops=True)
            self._inside(s, ts, o, hi, lo, stops=False)
        for s, order in tried:  # priced orders that were tried and are still pending use up a candle
            book = self.entry_orders if order.entry else self.exit_orders
            if book.get(s) is order:
                order.left -= 1
                if order.left <= 0:
                    del book[s]
                    self.expired += 1
        for s, _, hi, lo in rows:  # the trailing stop's best price, after the candles it was live on
            h = self.holdings.get(s)
            if h is not None and h.trail_pct is not None and ts >= h.live_from:
                h.best = max(h.best, hi) if h.side > 0 else min(h.best, lo)
        for s, _, _, _ in rows:
            self._refresh(s)

    def _market_only(self, row: tuple[int, float, float, float], ts: int) -> bool:
        """The common case in one pass: the symbol's only work is one market order, with no protective
        level before or after it. It fills at the open exactly as passes (a)/(b) would, and nothing else
        can happen in the candle (no level, no priced order to expire). False: take the full passes."""
        s, o = row[0], row[1]
        h = self.holdings.get(s)
        if h is not None and h.protected:
            return False
        entry, exit_ = self.entry_orders.get(s), self.exit_orders.get(s)
        order = exit_ if h is not None else entry
        if order is None or (entry if h is not None else exit_) is not None or order.price is not None \
                or order.stop is not None or ts < order.from_ts:
            return False
        if h is None:
            if order.stop_loss is not None or order.take_profit is not None or order.trail_pct is not None:
                return False
            self._open(s, order, o, ts, True, ts)
        else:
            self._close(s, order, o, ts, True, order.reason)
        self._refresh(s)
        return True

    @staticmethod
    def _at_open(order: _Order, o: float) -> bool:
        if order.price is not None:
            return o <= order.price if order.buys else o >= order.price
        if order.stop is not None:
            return o >= order.stop if order.buys else o <= order.stop
        return True  # market

    def _protect_at_open(self, s: int, h: Holding, o: float, ts: int) -> None:
        long = h.side > 0
        trail = h.trail_level()
        if h.stop_loss is not None and (o <= h.stop_loss if long else o >= h.stop_loss):
            self._close(s, None, o, ts, True, "stop_loss")
        elif trail is not None and (o <= trail if long else o >= trail):
            self._close(s, None, o, ts, True, "trailing_stop")
        elif h.take_profit is not None and (o >= h.take_profit if long else o <= h.take_profit):
            self._close(s, None, o, ts, False, "take_profit")

    @staticmethod
    def _reached(buys: bool, stop: bool, level: float, o: float, hi: float, lo: float) -> float | None:
        """The fill price of a level order within a candle, or None: a buy stop when high >= stop at
        max(open, stop), a sell stop when low <= stop at min(open, stop); a buy limit when low <= price at
        min(open, price), a sell limit when high >= price at max(open, price) (docs/orders.md 3)."""
        if buys == stop:  # buy stop, sell limit: reached from below
            return max(o, level) if hi >= level else None
        return min(o, level) if lo <= level else None

    def _inside(self, s: int, ts: int, o: float, hi: float, lo: float, *, stops: bool) -> None:
        reached = self._reached
        entry = self.entry_orders.get(s)
        if entry is not None and ts >= entry.from_ts and s not in self.holdings:
            level = entry.stop if stops else entry.price
            if level is not None and (price := reached(entry.buys, stops, level, o, hi, lo)) is not None:
                self._open(s, entry, price, ts, stops, ts + 1)
                return
        h = self.holdings.get(s)
        if h is None:
            return
        exit_ = self.exit_orders.get(s)
        if exit_ is not None and ts >= exit_.from_ts:
            level = exit_.stop if stops else exit_.price
            if level is not None and (price := reached(exit_.buys, stops, level, o, hi, lo)) is not None:
                self._close(s, exit_, price, ts, stops, exit_.reason)
                h = self.holdings.get(s)
                if h is None:
                    return
        if ts < h.live_from:
            return
        sells = h.side > 0
        if stops:
            trail = h.trail_level()
            if h.stop_loss is not None and (price := reached(not sells, True, h.stop_loss, o, hi, lo)) is not None:
                self._close(s, None, price, ts, True, "stop_loss")
            elif trail is not None and (price := reached(not sells, True, trail, o, hi, lo)) is not None:
                self._close(s, None, price, ts, True, "trailing_stop")
        elif h.take_profit is not None and (price := reached(not sells, False, h.take_profit, o, hi, lo)) is not None:
            self._close(s, None, price, ts, False, "take_profit")

    # -- marks, liquidation, end of data ------------------------------------------------------------
    def check_liquidation(self, ts: int) -> bool:
        """After a close was marked: liquidate everything when equity reached zero."""
        if not self.holdings or self.equity() > 0:
            return False
        for s in sorted(self.holdings):
            self._close(s, None, self.mark(s), ts, False, "liquidated")
        self.entry_orders.clear()
        self.exit_orders.clear()
        self.work.clear()
        self.liquidated = True
        self.liquidated_at = ts
        self.at_risk = self.cash < 0
        self.shorts = 0
        return True

    def end_symbol(self, s: int, ts: int) -> None:
        """The symbol's last candle was seen: close its position at that close, expire its orders."""
        if s in self.holdings:
            self._close(s, None, self.mark(s), ts, False, "end_of_data")
        for book in (self.entry_orders, self.exit_orders):
            if book.pop(s, None) is not None:
                self.expired += 1
        self.ended.add(s)
        self._refresh(s)

    # -- the mirror --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The book as the protocol's `book` map (PROTOCOL.md section 6)."""
        return {
            "cash": self.cash,
            "positions": {
                self.symbols[s]: {"side": "long" if h.side > 0 else "short", "size": h.units,
                                  "entry_price": h.entry_price, "entry_timestamp": h.entry_time}
                for s, h in sorted(self.holdings.items())
            },
        }


Decide = Callable[[int], Iterable[Any]]


def walk(
    book: OrderBook,
    timestamp: Sequence[int],
    symbol: Sequence[int],
    open_: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    ends: Iterable[int],
    alerts: Sequence[tuple[int, float | None, int, int]],
    on_alert: Decide,
    on_candle: Decide,
    on_group: Callable[[int, int], None] | None = None,
) -> None:
    """Walk one batch of the merged stream through `book` (docs/orders.md section 1).

    `alerts` are `(at, price, symbol index, time)` in delivery order; `on_alert(k)` returns the signals
    alert k decided, `on_candle(row)` those decided on candle `row` (both already valid). `on_group(row,
    ts)` is called after the last candle of each timestamp group (the host records equity there)."""
    n = len(timestamp)
    last = set(ends)
    a = 0
    r = 0
    while r < n:
        ts = timestamp[r]
        g_end = r + 1
        while g_end < n and timestamp[g_end] == ts:
            g_end += 1
        while a < len(alerts) and alerts[a][0] <= r:
            _, price, s, when = alerts[a]
            for sig in on_alert(a):
                book.submit(sig, s, when, alert=(price, s, when))
            a += 1
        if book.work:
            book.fill_group(ts, [(symbol[k], open_[k], high[k], low[k]) for k in range(r, g_end)])
        for k in range(r, g_end):
            s = symbol[k]
            book.marks[s] = close[k]
            if book.at_risk and book.holdings:
                book.check_liquidation(ts)
            for sig in on_candle(k):
                book.submit(sig, s, ts, close=close[k])
            if k in last:
                book.end_symbol(s, ts)
        if on_group is not None:
            on_group(g_end - 1, ts)
        r = g_end


def replay(
    book: OrderBook,
    timestamp: Sequence[int],
    symbol: Sequence[int],
    open_: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    ends: Iterable[int],
    alerts: Sequence[tuple[int, float | None, int, int]],
    signals: Iterable[tuple[int, int | None, Any]],
    on_group: Callable[[int, int], None] | None = None,
) -> None:
    """Walk a batch whose signals are already known: `(at, alert index or None, signal)` in decision
    order (an `on_batch` strategy's answer, or the host replaying a plugin's answer)."""
    by_row: dict[int, list[Any]] = {}
    by_alert: dict[int, list[Any]] = {}
    for at, alert, sig in signals:
        (by_row.setdefault(at, []) if alert is None else by_alert.setdefault(alert, [])).append(sig)
    none: tuple[Any, ...] = ()
    walk(book, timestamp, symbol, open_, high, low, close, ends, alerts,
         lambda k: by_alert.get(k, none), lambda r: by_row.get(r, none), on_group)
