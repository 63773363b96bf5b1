"""The values a plugin sees and returns: candles, alerts, positions, trades and signals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

SignalType = Literal["entry", "exit", "hold"]


class Candle(NamedTuple):
    """One OHLCV candle. `timestamp` is the open time in ms since the epoch (UTC)."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    symbol: str


class Alert(NamedTuple):
    """An external alert. `price` may be None; `data` holds every other column of the alerts file."""

    id: str
    timestamp: int
    symbol: str
    price: float | None
    data: Mapping[str, Any]


class Position(NamedTuple):
    """The open position of the current symbol, as the host will book it."""

    entry_price: float
    size: float
    entry_timestamp: int


class Trade(NamedTuple):
    """A closed trade (one row of trades.parquet)."""

    symbol: str
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    size: float
    pnl: float
    entry_reason: str | None
    exit_reason: str | None


class Signal:
    """What a strategy wants: `Signal.entry()`, `Signal.exit()` or `Signal.hold()`.

    `price` asks for a fill at that price (it must lie within the candle's [low, high], else the host
    rejects the signal); `size` overrides the run's default size; `reason` lands in trades.parquet.
    """

    __slots__ = ("price", "reason", "size", "type")

    def __init__(
        self,
        type: SignalType,
        *,
        price: float | None = None,
        size: float | None = None,
        reason: str | None = None,
    ) -> None:
        if type not in ("entry", "exit", "hold"):
            raise ValueError(f"signal type must be 'entry', 'exit' or 'hold', not {type!r}")
        if price is not None and not (isinstance(price, int | float) and math.isfinite(price)):
            raise ValueError(f"signal price must be a finite number, not {price!r}")
        if size is not None and not (isinstance(size, int | float) and math.isfinite(size) and size > 0):
            raise ValueError(f"signal size must be a positive number, not {size!r}")
        self.type = type
        self.price = None if price is None else float(price)
        self.size = None if size is None else float(size)
        self.reason = None if reason is None else str(reason)

    @classmethod
    def entry(cls, *, price: float | None = None, size: float | None = None, reason: str | None = None) -> Signal:
        return cls("entry", price=price, size=size, reason=reason)

    @classmethod
    def exit(cls, *, price: float | None = None, size: float | None = None, reason: str | None = None) -> Signal:
        return cls("exit", price=price, size=size, reason=reason)

    @classmethod
    def hold(cls) -> Signal:
        return _HOLD

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signal):
            return NotImplemented
        return (self.type, self.price, self.size, self.reason) == (other.type, other.price, other.size, other.reason)

    def __hash__(self) -> int:
        return hash((self.type, self.price, self.size, self.reason))

    def __repr__(self) -> str:
        extras = "".join(
            f", {k}={getattr(self, k)!r}" for k in ("price", "size", "reason") if getattr(self, k) is not None
        )
        return f"Signal({self.type!r}{extras})"


_HOLD = Signal("hold")


def coerce_signal(value: object, hook: str) -> Signal | None:
    """Accept what authors naturally return (a Signal, None, 'entry', a dict); refuse anything else clearly."""
    if value is None or isinstance(value, Signal):
        return value
    if isinstance(value, str):
        return Signal(value)  # type: ignore[arg-type]
    if isinstance(value, Mapping) and "type" in value:
        return Signal(
            value["type"], price=value.get("price"), size=value.get("size"), reason=value.get("reason")
        )
    raise TypeError(
        f"{hook} returned {value!r} ({type(value).__name__}); return Signal.entry(), Signal.exit(), "
        "Signal.hold() or None"
    )


class BacktestResults(NamedTuple):
    """What `on_post_run` receives. `trades` are Trade rows; `equity` has `timestamp` and `equity` lists."""

    run_id: str
    status: str
    metrics: Mapping[str, Any]
    trades: list[Trade]
    equity: Mapping[str, list[Any]]
    config: Mapping[str, Any]

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> BacktestResults:
        columns = raw.get("trades") or {}
        count = len(columns.get("symbol") or ())
        missing = [None] * count
        # Column-wise zip: one pass, whatever the number of trades (no per-trade lookups).
        trades = list(map(Trade._make, zip(*((columns.get(f) or missing) for f in Trade._fields), strict=True)))
        return cls(
            run_id=str(raw.get("run_id", "")),
            status=str(raw.get("status", "")),
            metrics=dict(raw.get("metrics") or {}),
            trades=trades,
            equity=dict(raw.get("equity") or {}),
            config=dict(raw.get("config") or {}),
        )
