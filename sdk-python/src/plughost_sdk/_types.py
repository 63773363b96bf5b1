"""The values a plugin sees and returns: candles, alerts, positions, trades and signals."""

from __future__ import annotations

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
    """An open position, as the host books it: `side` is "long" or "short", `size` in units."""

    entry_price: float
    size: float
    entry_timestamp: int
    side: str = "long"


class Trade(NamedTuple):
    """A closed trade (one row of trades.parquet; times in ms since the epoch)."""

    symbol: str
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    size: float
    pnl: float
    entry_reason: str | None
    exit_reason: str | None
    side: str = "long"
    fees: float = 0.0



def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:  # numpy scalars and other real numbers
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(f"signal {name} must be a number, not {value!r}") from None
    return float(value)


class Signal:
    """What a strategy wants: `Signal.entry()`, `Signal.exit()` or `Signal.hold()` (docs/orders.md).

    An entry opens a `side` ("long" or "short") position; an exit closes it (or `size` of it). With
    neither `price` nor `stop` it is a market order (next open, or the close with `fill_at = "close"`);
    `price` makes it a limit order, `stop` a stop order, tried on the next `valid_for` candles.
    `stop_loss`, `take_profit` and `trail_pct` (percent) protect an entry. `symbol` sends the order to
    another symbol of the run; `reason` lands in trades.parquet. Values the host cannot book (a negative
    price, a stop-loss above the take-profit of a long, ...) fail the run with PLUGIN_PROTOCOL_ERROR.
    """

    __slots__ = ("price", "reason", "side", "size", "stop", "stop_loss", "symbol", "take_profit", "trail_pct",
                 "type", "valid_for")

    def __init__(
        self,
        type: SignalType,
        *,
        side: str | None = None,
        size: float | None = None,
        price: float | None = None,
        stop: float | None = None,
        valid_for: int | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trail_pct: float | None = None,
        symbol: str | None = None,
        reason: str | None = None,
    ) -> None:
        if type not in ("entry", "exit", "hold"):
            raise ValueError(f"signal type must be 'entry', 'exit' or 'hold', not {type!r}")
        self.type = type
        self.side = side
        self.size = _number("size", size)
        self.price = _number("price", price)
        self.stop = _number("stop", stop)
        self.stop_loss = _number("stop_loss", stop_loss)
        self.take_profit = _number("take_profit", take_profit)
        self.trail_pct = _number("trail_pct", trail_pct)
        self.valid_for = valid_for if valid_for is None or isinstance(valid_for, int) else int(valid_for)
        self.symbol = None if symbol is None else str(symbol)
        self.reason = None if reason is None else str(reason)

    @classmethod
    def entry(cls, side: str = "long", size: float | None = None, price: float | None = None,
              stop: float | None = None, valid_for: int = 1, stop_loss: float | None = None,
              take_profit: float | None = None, trail_pct: float | None = None, symbol: str | None = None,
              reason: str | None = None) -> Signal:
        return cls("entry", side=side, size=size, price=price, stop=stop, valid_for=valid_for, stop_loss=stop_loss,
                   take_profit=take_profit, trail_pct=trail_pct, symbol=symbol, reason=reason)

    @classmethod
    def exit(cls, size: float | None = None, price: float | None = None, stop: float | None = None,
             valid_for: int = 1, symbol: str | None = None, reason: str | None = None) -> Signal:
        return cls("exit", size=size, price=price, stop=stop, valid_for=valid_for, symbol=symbol, reason=reason)

    @classmethod
    def hold(cls) -> Signal:
        return _HOLD

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signal):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        defaults = {"side": "long", "valid_for": 1}
        extras = "".join(f", {k}={getattr(self, k)!r}" for k in _FIELDS[1:]
                         if getattr(self, k) is not None and defaults.get(k) != getattr(self, k))
        return f"Signal({self.type!r}{extras})"


_FIELDS = ("type", "side", "size", "price", "stop", "valid_for", "stop_loss", "take_profit", "trail_pct", "symbol",
           "reason")
_HOLD = Signal("hold")


def coerce_signal(value: object, hook: str) -> Signal | None:
    """Accept what authors naturally return (a Signal, None, 'entry', a dict); refuse anything else clearly."""
    if value is None or isinstance(value, Signal):
        return value
    if isinstance(value, str):
        return Signal(value)  # type: ignore[arg-type]
    if isinstance(value, Mapping) and "type" in value:
        unknown = set(value) - set(_FIELDS)
        if unknown:
            raise TypeError(f"{hook} returned a signal with unknown keys {sorted(unknown)}; known: {list(_FIELDS)}")
        return Signal(value["type"], **{k: value.get(k) for k in _FIELDS[1:]})
    raise TypeError(
        f"{hook} returned {value!r} ({type(value).__name__}); return Signal.entry(), Signal.exit(), "
        "Signal.hold(), None or a list of them"
    )


def coerce_signals(value: object, hook: str) -> list[Signal]:
    """None, one signal or a list of signals, as a list without holds."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        out = [coerce_signal(v, hook) for v in value]
        return [s for s in out if s is not None and s.type != "hold"]
    one = coerce_signal(value, hook)
    return [] if one is None or one.type == "hold" else [one]


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
        trades = [t._replace(side=t.side or "long", fees=t.fees or 0.0) for t in trades]
        return cls(
            run_id=str(raw.get("run_id", "")),
            status=str(raw.get("status", "")),
            metrics=dict(raw.get("metrics") or {}),
            trades=trades,
            equity=dict(raw.get("equity") or {}),
            config=dict(raw.get("config") or {}),
        )
