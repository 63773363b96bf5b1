"""Typed payloads of the protocol's methods, and their checks (PROTOCOL.md sections 5-7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
from plughost_sdk.orders import SIGNAL_FIELDS

from .framing import ProtocolViolation, short_repr

PROTOCOL_VERSIONS = (2, 3)  # 3: signals answered as columns; 2 still read (PROTOCOL.md section 10)
PLUGIN_TYPES = ("strategy", "feature")


@dataclass(frozen=True)
class Hello:
    protocol: int
    sdk: str
    sdk_version: str
    name: str | None
    version: str | None
    plugin_type: str
    methods: frozenset[str]
    pid: int

    @classmethod
    def parse(cls, params: Any) -> Hello:
        def need(cond: bool, what: str) -> None:
            if not cond:
                raise ProtocolViolation("bad hello", what)

        need(isinstance(params, dict), f"params must be a map, got {short_repr(params, 100)}")
        plugin = params.get("plugin")
        need(isinstance(plugin, dict), "missing `plugin` map")
        need(type(params.get("protocol")) is int, "`protocol` must be an integer")
        need(plugin.get("type") in PLUGIN_TYPES, f"`plugin.type` must be one of {PLUGIN_TYPES}")
        methods = params.get("methods")
        need(isinstance(methods, list) and all(isinstance(m, str) for m in methods), "`methods` must be strings")
        for key in ("name", "version"):
            need(plugin.get(key) is None or isinstance(plugin.get(key), str), f"`plugin.{key}` must be a string")
        for key in ("sdk", "sdk_version"):
            need(params.get(key) is None or isinstance(params.get(key), str), f"`{key}` must be a string")
        pid = params.get("pid")
        need(pid is None or type(pid) is int, f"`pid` must be an integer, got {short_repr(pid, 40)}")
        return cls(
            protocol=params["protocol"],
            sdk=params.get("sdk") or "?",
            sdk_version=params.get("sdk_version") or "?",
            name=plugin.get("name"),
            version=plugin.get("version"),
            plugin_type=plugin["type"],
            methods=frozenset(methods),
            pid=pid or 0,
        )


@dataclass(frozen=True)
class LoadFailure:
    """A runner's `load_error` notification: why the plugin could not be loaded, at the user's line."""

    type: str
    message: str
    kind: str
    file: str | None
    line: int | None
    column: int | None
    source: str | None
    traceback: str

    @classmethod
    def parse(cls, params: Any) -> LoadFailure:
        if not isinstance(params, dict):
            raise ProtocolViolation("bad load_error", f"params must be a map, got {short_repr(params, 100)}")

        def text(key: str) -> str | None:
            value = params.get(key)
            return value if isinstance(value, str) else None

        def number(key: str) -> int | None:
            value = params.get(key)
            return value if type(value) is int and value > 0 else None

        return cls(
            type=text("type") or "Error", message=text("message") or "", kind=text("kind") or "raised",
            file=text("file"), line=number("line"), column=number("column"), source=text("source"),
            traceback=text("traceback") or "",
        )


@dataclass
class AlertEvent:
    at: int
    id: str
    timestamp: int
    symbol: str
    price: float | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"at": self.at, "id": self.id, "timestamp": self.timestamp, "symbol": self.symbol,
                "price": self.price, "data": self.data}


@dataclass
class CandleBatch:
    """One batch of the run's merged stream, columnar. Arrays must be C-contiguous int64/float64/int32.
    A batch never splits a timestamp (PROTOCOL.md section 6)."""

    symbols: list[str]
    offset: int
    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: np.ndarray  # int32 index into `symbols`
    ends: list[int] = field(default_factory=list)  # rows that are their symbol's last candle
    indicators: dict[str, np.ndarray] = field(default_factory=dict)
    alerts: list[AlertEvent] = field(default_factory=list)
    last: bool = False

    def __len__(self) -> int:
        return len(self.timestamp)

    def to_wire(self) -> dict[str, Any]:
        # The arrays' raw little-endian bytes are exactly Arrow's primitive data buffers.
        def raw(arr: np.ndarray, dtype: str) -> bytes:
            return np.ascontiguousarray(arr, dtype=dtype).tobytes()

        return {
            "symbols": self.symbols,
            "offset": self.offset,
            "n": len(self.timestamp),
            "columns": {
                "timestamp": raw(self.timestamp, "<i8"),
                "open": raw(self.open, "<f8"),
                "high": raw(self.high, "<f8"),
                "low": raw(self.low, "<f8"),
                "close": raw(self.close, "<f8"),
                "volume": raw(self.volume, "<f8"),
                "symbol": raw(self.symbol, "<i4"),
            },
            "indicators": {name: raw(col, "<f8") for name, col in self.indicators.items()},
            "ends": self.ends,
            "alerts": [a.to_wire() for a in self.alerts],
            "last": self.last,
        }


SIGNAL_KEYS = SIGNAL_FIELDS  # the wire's signal keys are the order model's signal fields


class SignalRecord(NamedTuple):
    """A signal as the plugin sent it, typed but not yet checked against the order rules
    (`plughost_sdk.orders.signal_problem` does that, with the run's symbols). A named tuple: a batch's
    columns become records in one C-level pass (`_make` over zipped columns)."""

    at: int
    alert: int | None
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

    def describe(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in SIGNAL_KEYS[1:] if getattr(self, k) is not None)
        origin = f"alert {self.alert} before candle {self.at}" if self.alert is not None else f"candle {self.at}"
        return f"{self.type} signal at {origin}" + (f" ({fields})" if fields else "")


@dataclass(frozen=True)
class MirrorPosition:
    side: str
    size: float
    entry_price: float
    entry_timestamp: int


@dataclass(frozen=True)
class BookMirror:
    cash: float
    positions: dict[str, MirrorPosition]


@dataclass(frozen=True)
class BatchResult:
    signals: list[SignalRecord]
    book: BookMirror | None
    lookahead_at: int | None = None  # the SDK's look-ahead check found a signal that needed later candles
    # Indexes of the signals that still need the order rules' check (`signal_problem`); None: all of them.
    # Columnar answers leave out plain market entries/exits, whose every field was checked while parsing.
    suspects: list[int] | None = None


def _number(value: Any, what: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if type(value) not in (int, float):
        raise ProtocolViolation("bad result", f"{what} must be a number, got {short_repr(value, 80)}")
    return float(value)


def _integer(value: Any, what: str) -> int:
    if type(value) is float and value.is_integer():
        return int(value)  # JavaScript cannot tell 3 from 3.0
    if type(value) is not int:
        raise ProtocolViolation("bad result", f"{what} must be an integer, got {short_repr(value, 80)}")
    return value


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ProtocolViolation("bad result", f"{what} must be a string, got {short_repr(value, 80)}")


def _signal(raw: Any, batch_len: int, alert_count: int, previous: int) -> SignalRecord:
    if not isinstance(raw, dict):
        raise ProtocolViolation("bad result", f"a signal must be a map, got {short_repr(raw, 80)}")
    at = _integer(raw.get("at"), "signal.at")
    alert = raw.get("alert")
    if alert is not None:
        alert = _integer(alert, "signal.alert")
        if not 0 <= alert < alert_count:
            raise ProtocolViolation("bad result", f"signal.alert {alert} is not an alert of this batch")
    if not 0 <= at < batch_len:
        raise ProtocolViolation("bad result", f"signal.at {at} is outside the batch (0..{batch_len - 1})")
    if at < previous:
        raise ProtocolViolation("bad result", f"signal.at {at} goes back in time (after a signal at {previous})")
    kind = raw.get("type")
    if kind not in ("entry", "exit"):
        raise ProtocolViolation("bad result", f"signal.type must be 'entry' or 'exit', got {short_repr(kind, 40)}")
    valid_for = raw.get("valid_for")
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        reason = short_repr(reason)  # str() of a deeply nested value would recurse past the limit
    num = {k: _number(raw.get(k), f"signal.{k}", optional=True)
           for k in ("size", "price", "stop", "stop_loss", "take_profit", "trail_pct")}
    return SignalRecord(
        at, alert, kind, side=_text(raw.get("side"), "signal.side"),
        valid_for=None if valid_for is None else _integer(valid_for, "signal.valid_for"),
        symbol=_text(raw.get("symbol"), "signal.symbol"), reason=reason, **num,
    )


_TYPE_CODES = ("entry", "exit")
_SIDE_CODES = (None, "long", "short")
_FLOAT_COLUMNS = ("size", "price", "stop")
_LEVEL_COLUMNS = ("stop_loss", "take_profit", "trail_pct")


def _column(cols: dict[str, Any], name: str, dtype: str, n: int) -> np.ndarray:
    raw = cols.get(name)
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ProtocolViolation("bad result", f"signal column {name!r} must be bin, got {short_repr(raw, 60)}")
    size = np.dtype(dtype).itemsize
    if len(raw) != n * size:
        raise ProtocolViolation("bad result", f"signal column {name!r} holds {len(raw) / size:g} values, expected {n}")
    return np.frombuffer(raw, dtype=dtype)


def _floats(cols: dict[str, Any], name: str, n: int) -> Any:
    arr = _column(cols, name, "<f8", n)
    absent = np.isnan(arr)
    if absent.all():
        return repeat(None, n)
    values = arr.tolist()
    if absent.any():
        for i in np.flatnonzero(absent).tolist():
            values[i] = None
    return values


def _dictionary(cols: dict[str, Any], name: str) -> list[str]:
    table = cols.get(name)
    if not isinstance(table, list) or not all(isinstance(v, str) for v in table):
        raise ProtocolViolation("bad result", f"{name!r} must be a list of strings, got {short_repr(table, 60)}")
    return table


def _signal_columns(cols: dict[str, Any], batch_len: int, alert_count: int,
                    suspects: list[int]) -> list[SignalRecord]:
    """Version 3's columns (PROTOCOL.md section 6) -> records, checked as the map form is. `suspects`
    receives the indexes of the signals that carry more than a type and a side (see BatchResult)."""
    n = cols.get("n")
    if type(n) is not int or n < 0:
        raise ProtocolViolation("bad result", f"signals.n must be a count, got {short_repr(n, 40)}")
    if n == 0:
        return []
    at = _column(cols, "at", "<i4", n)
    if int(at.min()) < 0 or int(at.max()) >= batch_len:
        bad = int(at[(at < 0) | (at >= batch_len)][0])
        raise ProtocolViolation("bad result", f"signal.at {bad} is outside the batch (0..{batch_len - 1})")
    back = np.flatnonzero(at[1:] < at[:-1])
    if len(back):
        i = int(back[0])
        raise ProtocolViolation("bad result", f"signal.at {int(at[i + 1])} goes back in time (after a signal at "
                                              f"{int(at[i])})")
    alert = _column(cols, "alert", "<i4", n)
    if int(alert.min()) < -1 or int(alert.max()) >= alert_count:
        bad = int(alert[(alert < -1) | (alert >= alert_count)][0])
        raise ProtocolViolation("bad result", f"signal.alert {bad} is not an alert of this batch")
    alerts: Any = repeat(None, n) if int(alert.max()) < 0 else [None if a < 0 else a for a in alert.tolist()]
    kind = _column(cols, "type", "u1", n)
    if int(kind.max()) > 1:
        raise ProtocolViolation("bad result", f"signal.type code {int(kind.max())} is not 0 (entry) or 1 (exit)")
    side = _column(cols, "side", "u1", n)
    if int(side.max()) > 2:
        raise ProtocolViolation("bad result", f"signal.side code {int(side.max())} is not 0, 1 (long) or 2 (short)")
    valid = _column(cols, "valid_for", "<i4", n)
    valid_for: Any = repeat(None, n) if not valid.any() else [v or None for v in valid.tolist()]
    texts = {}
    for name in ("symbol", "reason"):
        table = _dictionary(cols, f"{name}_dict")
        codes = _column(cols, name, "<i4", n)
        if int(codes.min()) < -1 or int(codes.max()) >= len(table):
            raise ProtocolViolation("bad result", f"signal column {name!r} holds a code outside -1..{len(table) - 1}")
        texts[name] = repeat(None, n) if int(codes.max()) < 0 else [table[c] if c >= 0 else None
                                                                       for c in codes.tolist()]
    types = [_TYPE_CODES[c] for c in kind.tolist()]
    sides = repeat(None, n) if not side.any() else [_SIDE_CODES[c] for c in side.tolist()]
    plain = (alert < 0) & (valid == 0) & (_column(cols, "symbol", "<i4", n) < 0)
    for name in (*_FLOAT_COLUMNS, *_LEVEL_COLUMNS):
        plain &= np.isnan(_column(cols, name, "<f8", n))
    suspects[:] = np.flatnonzero(~plain).tolist()
    return list(map(SignalRecord._make, zip(
        at.tolist(), alerts, types, sides, *(_floats(cols, k, n) for k in _FLOAT_COLUMNS), valid_for,
        *(_floats(cols, k, n) for k in _LEVEL_COLUMNS), texts["symbol"], texts["reason"], strict=False)))


def parse_batch_result(result: Any, batch_len: int, alert_count: int) -> BatchResult:
    raw_signals = result.get("signals") if isinstance(result, dict) else None
    suspects: list[int] | None = None
    if isinstance(raw_signals, dict):
        suspects = []
        signals = _signal_columns(raw_signals, batch_len, alert_count, suspects)
    elif isinstance(raw_signals, list):
        signals = []
        previous = 0
        for raw in raw_signals:
            sig = _signal(raw, batch_len, alert_count, previous)
            previous = sig.at
            signals.append(sig)
    else:
        raise ProtocolViolation("bad result", "a candles result must be a map with `signals` (columns or a list), "
                                              f"got {short_repr(result, 100)}")
    book = result.get("book")
    mirror = None
    if book is not None:
        if not isinstance(book, dict) or not isinstance(book.get("positions", {}), dict):
            raise ProtocolViolation("bad result", f"book must be a map with positions, got {short_repr(book, 80)}")
        positions = {}
        for name, pos in (book.get("positions") or {}).items():
            if not isinstance(pos, dict):
                raise ProtocolViolation("bad result", f"book position must be a map, got {short_repr(pos, 80)}")
            positions[str(name)] = MirrorPosition(
                str(pos.get("side")), _number(pos.get("size"), "position.size") or 0.0,
                _number(pos.get("entry_price"), "position.entry_price") or 0.0,
                _integer(pos.get("entry_timestamp"), "position.entry_timestamp"),
            )
        mirror = BookMirror(_number(book.get("cash"), "book.cash") or 0.0, positions)
    lookahead = result.get("lookahead")
    at = lookahead.get("at") if isinstance(lookahead, dict) else None
    return BatchResult(signals, mirror, at if type(at) is int and 0 <= at < batch_len else None, suspects)
