"""Walks a `candles` batch through a plugin: one call per event, no round trip per candle.

This is the SDK's hot path. It builds each batch's Candle objects in one C-level pass, moves the
history/indicator views forward in place, and only touches Python objects for non-hold signals and
for symbols with live orders (the order book's `work`).
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from itertools import repeat
from typing import Any

from ._answers import SignalColumns
from ._batch import CandleBatch
from ._context import StrategyContext
from ._lookahead import BatchSignals, LookaheadCheck
from ._plugin import FeaturePlugin, StrategyPlugin, implemented_methods
from ._types import Alert, Candle, Signal, Trade, coerce_signals
from .orders import OrderBook, Rules, replay, signal_problem

_make_candle = partial(tuple.__new__, Candle)
_NO_ALERT = 1 << 62


class HookError(Exception):
    """A plugin method raised; carries which hook and at which candle index."""

    def __init__(self, hook: str, at: int | None, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.hook = hook
        self.at = at
        self.cause = cause
        self.count = 1  # how many events of one notification failed (the first one is `cause`)


class _Awaiter:
    """Runs coroutines returned by `async def` plugin methods on one long-lived event loop."""

    def __init__(self) -> None:
        self._loop: Any = None  # an asyncio loop; asyncio (~25 ms of imports) only for async plugins

    def __call__(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            if self._loop is None:
                import asyncio

                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(value)
        return value


def _wire(sig: Signal, at: int, alert: int | None) -> tuple[int, int | None, Signal]:
    return (at, alert, sig)  # encoded once per batch, as columns (_answers.SignalColumns.to_wire)


class StrategyDriver:
    """Walks each batch of the run's one stream through the strategy and the SDK's order book mirror
    (docs/orders.md section 1): alerts, fills, then each candle (mark, liquidation, on_candle, end of
    symbol). The book is `plughost_sdk.orders`, the same code the host books the results with."""

    def __init__(self, plugin: StrategyPlugin) -> None:
        self.plugin = plugin
        self.methods = implemented_methods(plugin, StrategyPlugin)
        self._await = _Awaiter()
        self._vectorized = "on_batch" in self.methods and "on_candle" not in self.methods
        self._history = 200
        self.symbols: list[str] = []
        self.book = OrderBook([], Rules(), keep_trades=False)
        self.ctx = StrategyContext("", self.book)
        self._items: list[list[Candle]] = []
        self._last_values: list[dict[str, list[float]]] = []
        self.lookahead = LookaheadCheck(enabled=False)

    def initialize(self, params: Mapping[str, Any]) -> None:
        run = params.get("run") or {}
        self._history = max(1, int(run.get("history", 200)))
        self._set_symbols([str(s) for s in run.get("symbols") or ()])
        rules = run.get("rules") or {"size": run.get("size", 1.0)}
        self.book = OrderBook(self.symbols, Rules.from_wire(rules), keep_trades=False)
        self.ctx = StrategyContext(str(params.get("run_id", "")), self.book)
        self.lookahead = LookaheadCheck(enabled=bool(run.get("lookahead_check", False)),
                                        seed=str(params.get("run_id", "")))
        self._call("initialize", None, self.plugin.initialize, dict(params.get("config") or {}))

    def _set_symbols(self, symbols: list[str]) -> None:
        self.symbols = symbols
        self._items = [[] for _ in symbols]
        self._last_values = [{} for _ in symbols]

    def _call(self, hook: str, at: int | None, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._await(fn(*args))
        except Exception as exc:
            raise HookError(hook, at, exc) from exc

    def candles(self, params: Mapping[str, Any]) -> dict[str, Any]:
        batch = CandleBatch(params, self.symbols)
        if batch.symbols != self.symbols:  # a host that did not list the symbols in initialize
            self._set_symbols(batch.symbols)
            self.book = OrderBook(self.symbols, self.book.rules, keep_trades=False)
            self.ctx._book = self.book
        signals = SignalColumns()
        # No cyclic garbage is made per candle, but the Candle tuples would trigger collections: with the
        # collector paused for the batch the driver is ~23% faster (shared/reading/perf-profile.md).
        collecting = gc.isenabled()
        gc.disable()
        try:
            if self._vectorized:
                self._run_vectorized(batch, signals)
            else:
                self._run_per_event(batch, signals)
        finally:
            if collecting:
                gc.enable()
        if batch.last:
            self._call("on_exit", batch.n, self.plugin.on_exit, self.ctx)
        out: dict[str, Any] = {"signals": signals.to_wire(), "book": self.book.snapshot()}
        found = self.lookahead.take()
        if found is not None:
            out["lookahead"] = found
        return out

    def _submit(self, signals: SignalColumns, sigs: list[Signal], at: int, alert: int | None, s: int,
                ts: int, close: float | None, alert_fill: tuple[float | None, int, int] | None) -> None:
        book = self.book
        for sig in sigs:
            signals.append(_wire(sig, at, alert))
            if signal_problem(sig, self.symbols) is None:  # the host fails the run on it; the mirror skips it
                book.submit(sig, s, ts, close=close, alert=alert_fill)

    def _run_per_event(self, batch: CandleBatch, signals: SignalColumns) -> None:
        n = batch.n
        ts, sym, opens, highs, lows, closes = (batch.timestamp, batch.symbol_ids, batch.open, batch.high, batch.low,
                                               batch.close)
        names = self.symbols
        size = self._history
        rows = zip(ts, opens, highs, lows, closes, batch.volume,
                   repeat(names[0], n) if len(names) == 1 else (names[i] for i in sym), strict=True)
        candles = list(map(_make_candle, rows))
        lists = [items[-size:] for items in self._items]
        bases = [len(lst) for lst in lists]
        if len(names) == 1:
            lists[0].extend(candles)
            pos: Sequence[int] = range(bases[0] + 1, bases[0] + n + 1)
        else:
            ends_at = [0] * n  # history end (exclusive) of each candle within its symbol's list
            for k, s in enumerate(sym):
                lst = lists[s]
                lst.append(candles[k])
                ends_at[k] = len(lst)
            pos = ends_at
        columns = {name: col.tolist() for name, col in batch.indicators.items()}  # type: ignore[attr-defined]
        book = self.book
        marks = book.marks
        ctx = self.ctx
        history = ctx.history
        indicators = ctx.indicators
        on_candle = self.plugin.on_candle
        awaiter = self._await
        ends = set(batch.ends)
        alerts = batch.alerts
        next_alert: int = alerts[0]["at"] if alerts else _NO_ALERT
        alert_pos = 0
        last_row = [-1] * len(names)
        if len(names) == 1 and not alerts:
            self._loop_one_symbol(batch, candles, lists[0], bases[0], columns, signals)
            if n:
                last_row[0] = n - 1
            r = n
        else:
            r = 0
        while r < n:
            t = ts[r]
            g_end = r + 1
            while g_end < n and ts[g_end] == t:
                g_end += 1
            if next_alert <= r:
                alert_pos, next_alert = self._deliver_alerts(batch, lists, bases, pos, columns, last_row,
                                                             alert_pos, r, signals)
            if book.work:
                book.fill_group(t, [(sym[k], opens[k], highs[k], lows[k]) for k in range(r, g_end)])
            indicators._columns = columns
            for k in range(r, g_end):
                s = sym[k]
                marks[s] = closes[k]
                if book.at_risk and book.holdings:
                    book.check_liquidation(t)
                ctx._sym = s
                ctx.symbol = names[s]
                history._items = lists[s]
                end = pos[k]
                history._end = end
                history._start = end - size if end > size else 0
                indicators._i = k
                last_row[s] = k
                try:
                    out = on_candle(candles[k], ctx)
                    if out is not None and type(out) is not Signal:
                        out = awaiter(out)
                except Exception as exc:
                    raise HookError("on_candle", k, exc) from exc
                if out is not None:
                    if type(out) is Signal:
                        if out.type != "hold":
                            self._submit(signals, [out], k, None, s, t, closes[k], None)
                    else:
                        try:
                            sigs = coerce_signals(out, "on_candle")
                        except Exception as exc:
                            raise HookError("on_candle", k, exc) from exc
                        self._submit(signals, sigs, k, None, s, t, closes[k], None)
                if k in ends:
                    book.end_symbol(s, t)
            r = g_end
        for s, k in enumerate(last_row):
            if k >= 0:
                self._last_values[s] = {name: col[k:k + 1] for name, col in columns.items()}
        self._items = [lst[-size:] for lst in lists]

    def _loop_one_symbol(self, batch: CandleBatch, candles: list[Candle], items: list[Candle], base: int,
                         columns: dict[str, list[float]], signals: SignalColumns) -> None:
        """The walk of `_run_per_event` for a one-symbol run without alerts: every row is its own
        timestamp group, so the loop carries only what changes per candle (the hot path of a
        per-candle strategy: ~0.4 us of SDK work a candle besides the plugin's own)."""
        book = self.book
        marks = book.marks
        ctx = self.ctx
        ctx._sym = 0
        ctx.symbol = self.symbols[0]
        history = ctx.history
        history._items = items
        indicators = ctx.indicators
        indicators._columns = columns
        size = self._history
        on_candle = self.plugin.on_candle
        awaiter = self._await
        ts, opens, highs, lows, closes = batch.timestamp, batch.open, batch.high, batch.low, batch.close
        end = base
        work = book.work  # a set the book updates in place
        risky = book.at_risk and bool(book.holdings)  # changes only inside the book calls below
        submit = self._submit
        for k, candle in enumerate(candles):
            if work:
                book.fill_group(ts[k], ((0, opens[k], highs[k], lows[k]),))
                risky = book.at_risk and bool(book.holdings)
            marks[0] = closes[k]
            if risky:
                book.check_liquidation(ts[k])
                risky = book.at_risk and bool(book.holdings)
            end += 1
            history._end = end
            history._start = end - size if end > size else 0
            indicators._i = k
            try:
                out = on_candle(candle, ctx)
                if out is not None and type(out) is not Signal:
                    out = awaiter(out)
            except Exception as exc:
                raise HookError("on_candle", k, exc) from exc
            if out is None:
                continue
            if type(out) is Signal:
                if out.type != "hold":
                    submit(signals, [out], k, None, 0, ts[k], closes[k], None)
            else:
                try:
                    sigs = coerce_signals(out, "on_candle")
                except Exception as exc:
                    raise HookError("on_candle", k, exc) from exc
                submit(signals, sigs, k, None, 0, ts[k], closes[k], None)
            risky = book.at_risk and bool(book.holdings)
        if batch.ends:  # the stream's last candle of its one symbol
            book.end_symbol(0, ts[batch.n - 1])

    def _deliver_alerts(self, batch: CandleBatch, lists: list[list[Candle]], bases: list[int], pos: Sequence[int],
                        columns: dict[str, list[float]], last_row: list[int], a: int, r: int,
                        signals: SignalColumns) -> tuple[int, int]:
        """Deliver every alert that comes before candle `r`: `ctx` shows the alert's symbol up to its last
        candle seen (in this batch or an earlier one)."""
        ctx = self.ctx
        history = ctx.history
        indicators = ctx.indicators
        alerts = batch.alerts
        while a < len(alerts) and alerts[a]["at"] <= r:
            raw = alerts[a]
            alert = Alert(str(raw["id"]), int(raw["timestamp"]), raw["symbol"], raw.get("price"),
                          raw.get("data") or {})
            s = self.book.index.get(alert.symbol, 0)
            ctx._sym = s
            ctx.symbol = alert.symbol
            k = last_row[s] if s < len(last_row) else -1
            history._items = lists[s] if s < len(lists) else []
            if k >= 0:
                history._end = pos[k]
                indicators._columns = columns
                indicators._i = k
            else:  # nothing of this symbol in this batch yet: its candles from earlier batches
                history._end = bases[s] if s < len(bases) else 0
                indicators._columns = self._last_values[s] if s < len(self._last_values) else {}
                indicators._i = 0
            history._start = max(0, history._end - self._history)
            out = self._call("on_alert", r, self.plugin.on_alert, alert, ctx)
            try:
                sigs = coerce_signals(out, "on_alert")
            except Exception as exc:
                raise HookError("on_alert", r, exc) from exc
            price = alert.price if alert.price is None else float(alert.price)
            self._submit(signals, sigs, r, a, s, alert.timestamp, None, (price, s, alert.timestamp))
            a += 1
        return a, (alerts[a]["at"] if a < len(alerts) else _NO_ALERT)

    def _batch_signals(self, batch: CandleBatch) -> BatchSignals:
        """on_batch's answer as (candle index, alert index or None, signal), in event order. A pair's first
        item is a candle index, or one of `batch.alerts` itself to answer that alert."""
        result = self._call("on_batch", None, self.plugin.on_batch, batch, self.ctx)
        alert_index = {id(a): k for k, a in enumerate(batch.alerts)}
        out: BatchSignals = []
        for key, value in (result or ()):
            alert = alert_index.get(id(key)) if isinstance(key, Mapping) else None
            if alert is not None:
                at = int(batch.alerts[alert]["at"])
            elif isinstance(key, Mapping):
                raise HookError("on_batch", None, ValueError(
                    "on_batch answered an alert that is not one of this batch's `batch.alerts`"))
            else:
                at = int(key)
                if not 0 <= at < batch.n:
                    raise HookError("on_batch", at, IndexError(
                        f"on_batch returned candle index {at} outside 0..{batch.n - 1}"))
            try:
                out.extend((at, alert, sig) for sig in coerce_signals(value, "on_batch"))
            except Exception as exc:
                raise HookError("on_batch", at, exc) from exc
        out.sort(key=lambda p: (p[0], p[1] is None))  # an alert comes before the candles of its timestamp
        return out

    def _run_vectorized(self, batch: CandleBatch, signals: SignalColumns) -> None:
        probe = self.lookahead.before(self.plugin, batch.n)
        answered = self._batch_signals(batch)
        if probe is not None:
            self.lookahead.check(self.plugin, probe, batch, answered, self._batch_signals)
        decided = []
        for at, alert, sig in answered:
            signals.append(_wire(sig, at, alert))
            if signal_problem(sig, self.symbols) is None:
                decided.append((at, alert, sig))
        index = self.book.index
        alerts = [(int(a["at"]), a.get("price"), index.get(a["symbol"], 0), int(a["timestamp"])) for a in batch.alerts]
        columns = (batch.timestamp, batch.symbol_ids, batch.open, batch.high, batch.low, batch.close)
        try:  # vectorized plugins have numpy: walk only the rows where something happens
            import numpy as np

            from .fastwalk import replay_arrays
        except ImportError:
            replay(self.book, *columns, batch.ends, alerts, decided)
            return
        ts, ids, opens, highs, lows, closes = (np.asarray(c) for c in columns)
        replay_arrays(self.book, ts, ids, opens, highs, lows, closes, batch.ends, alerts, decided, equity=False)


class FeatureDriver:
    """Calls a FeaturePlugin's hooks. `candles` and `trades` serve notifications: they never answer,
    so a failing hook must not stop the stream. Every event is delivered even after one failed; the
    first failure of a notification is raised afterwards as a HookError carrying the failure count."""

    def __init__(self, plugin: FeaturePlugin) -> None:
        self.plugin = plugin
        self.methods = implemented_methods(plugin, FeaturePlugin)
        self._await = _Awaiter()

    def call(self, hook: str, *args: Any) -> Any:
        try:
            return self._await(getattr(self.plugin, hook)(*args))
        except Exception as exc:
            raise HookError(hook, None, exc) from exc

    def candles(self, params: Mapping[str, Any]) -> None:
        """One `candles` notification: `on_candle(candle)` per candle, in order (the hot path:
        no per-candle allocation beyond the Candle itself, no awaitable check unless it returned one)."""
        if "on_candle" not in self.methods:
            return
        batch = CandleBatch(params)
        names = batch.symbols
        rows = zip(batch.timestamp, batch.open, batch.high, batch.low, batch.close, batch.volume,
                   (names[i] for i in batch.symbol_ids), strict=True)
        self._call_each("on_candle", self.plugin.on_candle, map(_make_candle, rows))

    def trades(self, params: Mapping[str, Any]) -> None:
        """One `trades` notification: `on_trade(trade)` per closed trade, in order."""
        if "on_trade" not in self.methods:
            return
        trades = (Trade(**{k: raw.get(k) for k in Trade._fields}) for raw in params.get("trades") or ())
        self._call_each("on_trade", self.plugin.on_trade, trades)

    def _call_each(self, hook: str, fn: Callable[[Any], Any], events: Iterable[Any]) -> None:
        """Call `fn` per event; a failure does not stop the rest. The first error is raised at the end
        with the number of failing calls (one hook_error per notification, PROTOCOL.md section 7)."""
        first: HookError | None = None
        failed = 0
        for i, event in enumerate(events):
            try:
                result = fn(event)
                if result is not None:
                    self._await(result)
            except Exception as exc:
                failed += 1
                if first is None:
                    first = HookError(hook, i, exc)
        if first is not None:
            first.count = failed
            raise first
