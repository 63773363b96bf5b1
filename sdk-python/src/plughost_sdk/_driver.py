"""Walks a `candles` batch through a plugin: one call per event, no round trip per candle.

This is the SDK's hot path. It builds each batch's Candle objects in one C-level pass, moves the
history/indicator views forward in place, and only touches Python objects for non-hold signals.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import repeat
from typing import Any

from ._batch import CandleBatch
from ._context import StrategyContext
from ._plugin import FeaturePlugin, StrategyPlugin, implemented_methods
from ._position import PositionMirror
from ._types import Alert, Candle, Signal, Trade, coerce_signal

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
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(value)
        return value


class StrategyDriver:
    def __init__(self, plugin: StrategyPlugin) -> None:
        self.plugin = plugin
        self.methods = implemented_methods(plugin, StrategyPlugin)
        self._await = _Awaiter()
        self._vectorized = "on_batch" in self.methods and "on_candle" not in self.methods
        self.ctx = StrategyContext("")
        self.mirror = PositionMirror(1.0)
        self._history = 200
        self._symbol: str | None = None
        self._last_indicators: dict[str, list[float]] = {}

    def initialize(self, params: Mapping[str, Any]) -> None:
        run = params.get("run") or {}
        self._history = max(1, int(run.get("history", 200)))
        self.mirror = PositionMirror(float(run.get("size", 1.0)))
        self.ctx = StrategyContext(str(params.get("run_id", "")))
        self._call("initialize", None, self.plugin.initialize, dict(params.get("config") or {}))

    def _call(self, hook: str, at: int | None, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._await(fn(*args))
        except Exception as exc:
            raise HookError(hook, at, exc) from exc

    def _start_symbol(self, symbol: str) -> None:
        self._symbol = symbol
        self.mirror.reset()
        self.ctx.symbol = symbol
        self.ctx.position = None
        self.ctx.history._items = []
        self._last_indicators = {}

    def candles(self, params: Mapping[str, Any]) -> dict[str, Any]:
        batch = CandleBatch(params)
        if batch.symbol != self._symbol or batch.offset == 0:
            self._start_symbol(batch.symbol)
        signals: list[dict[str, Any]] = []
        if self._vectorized:
            self._run_vectorized(batch, signals)
        else:
            self._run_per_event(batch, signals)
        position = self.mirror.snapshot()
        if batch.last:
            self._call("on_exit", batch.n, self.plugin.on_exit, self.ctx)
            position = self.mirror.snapshot()
            self._symbol = None
        return {"signals": signals, "position": position}

    def _record(
        self,
        signals: list[dict[str, Any]],
        sig: Signal,
        at: int,
        alert_index: int | None,
        default_fill: float | None,
        low: float | None,
        high: float | None,
        timestamp: int,
    ) -> None:
        self.mirror.apply(sig.type, sig.price, sig.size, default_fill=default_fill, low=low, high=high,
                          timestamp=timestamp)
        self.ctx.position = self.mirror.position
        signals.append({"at": at, "alert": alert_index, "type": sig.type, "price": sig.price, "size": sig.size,
                        "reason": sig.reason})

    def _run_per_event(self, batch: CandleBatch, signals: list[dict[str, Any]]) -> None:
        n = batch.n
        ctx = self.ctx
        history = ctx.history
        indicators = ctx.indicators
        keep = self._history - 1
        tail = history._items[-keep:] if keep else []
        candles = list(map(_make_candle, zip(batch.timestamp, batch.open, batch.high, batch.low, batch.close,
                                             batch.volume, repeat(batch.symbol, n), strict=True)))
        base = len(tail)
        history._items = tail + candles
        columns = {name: col.tolist() for name, col in batch.indicators.items()}  # type: ignore[attr-defined]
        indicators._columns = columns
        size = self._history
        on_candle = self.plugin.on_candle
        alerts = batch.alerts
        next_alert = alerts[0]["at"] if alerts else _NO_ALERT
        alert_pos = 0
        record = self._record
        awaiter = self._await
        for i, candle in enumerate(candles):
            if next_alert == i:
                alert_pos, next_alert = self._deliver_alerts(batch, candles, alert_pos, i, base, signals)
                indicators._columns = columns
            end = base + i + 1
            history._end = end
            history._start = end - size if end > size else 0
            indicators._i = i
            try:
                sig = on_candle(candle, ctx)
                if sig is not None and type(sig) is not Signal:
                    sig = coerce_signal(awaiter(sig), "on_candle")
            except Exception as exc:
                raise HookError("on_candle", i, exc) from exc
            if sig is not None and sig.type != "hold":
                record(signals, sig, i, None, candle.close, candle.low, candle.high, candle.timestamp)
        if alert_pos < len(alerts):
            self._deliver_alerts(batch, candles, alert_pos, n, base, signals)
        self._last_indicators = {name: col[-1:] for name, col in columns.items() if col}

    def _deliver_alerts(
        self,
        batch: CandleBatch,
        candles: list[Candle],
        pos: int,
        at: int,
        base: int,
        signals: list[dict[str, Any]],
    ) -> tuple[int, int]:
        """Deliver every alert that comes before candle `at`; the visible history ends at candle at-1."""
        ctx = self.ctx
        history = ctx.history
        end = base + at
        history._end = end
        history._start = max(0, end - self._history)
        indicators = ctx.indicators
        if at > 0:
            indicators._i = at - 1
        else:
            indicators._columns = self._last_indicators
            indicators._i = 0
        alerts = batch.alerts
        nxt = candles[at] if at < len(candles) else None
        while pos < len(alerts) and alerts[pos]["at"] == at:
            raw = alerts[pos]
            alert = Alert(str(raw["id"]), int(raw["timestamp"]), raw["symbol"], raw.get("price"),
                          raw.get("data") or {})
            sig = coerce_signal(self._call("on_alert", at, self.plugin.on_alert, alert, ctx), "on_alert")
            if sig is not None and sig.type != "hold":
                default = alert.price if alert.price is not None else (nxt.open if nxt else None)
                self._record(signals, sig, at, pos, default, nxt.low if nxt else None,
                             nxt.high if nxt else None, alert.timestamp)
            pos += 1
        return pos, (alerts[pos]["at"] if pos < len(alerts) else _NO_ALERT)

    def _run_vectorized(self, batch: CandleBatch, signals: list[dict[str, Any]]) -> None:
        result = self._call("on_batch", None, self.plugin.on_batch, batch, self.ctx)
        pairs = sorted(((int(i), coerce_signal(s, "on_batch")) for i, s in (result or ())), key=lambda p: p[0])
        for i, sig in pairs:
            if not 0 <= i < batch.n:
                error = IndexError(f"on_batch returned candle index {i} outside 0..{batch.n - 1}")
                raise HookError("on_batch", i, error)
            if sig is not None and sig.type != "hold":
                self._record(signals, sig, i, None, batch.close[i], batch.low[i], batch.high[i], batch.timestamp[i])


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
        rows = zip(batch.timestamp, batch.open, batch.high, batch.low, batch.close, batch.volume,
                   repeat(batch.symbol, batch.n), strict=True)
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
