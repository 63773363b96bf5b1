"""A batch's signals as the `candles` answer carries them: columns (PROTOCOL.md section 6, version 3).

The driver appends `(at, alert, signal)` as it decides; `to_wire()` encodes them once per batch. A signal
whose values the columns cannot carry exactly (a NaN size, an unknown side, a `valid_for` of 0, ...)
makes the batch fall back to the version-2 list of maps: the SDK never refuses a signal, the host
checks every one (`plughost_sdk.orders.signal_problem`).
"""

from __future__ import annotations

import sys
from array import array
from typing import Any

__all__ = ["SignalColumns", "signal_map"]

_FLOATS = ("size", "price", "stop", "stop_loss", "take_profit", "trail_pct")
_SIDES = {None: 0, "long": 1, "short": 2}
_TYPES = {"entry": 0, "exit": 1}
_NAN = float("nan")
_I32 = 2**31 - 1
_SWAP = sys.byteorder != "little"


def signal_map(sig: Any, at: int, alert: int | None) -> dict[str, Any]:
    """One signal in version 2's map form (keys in PROTOCOL.md's order)."""
    return {"at": at, "alert": alert, "type": sig.type, "side": sig.side, "size": sig.size, "price": sig.price,
            "stop": sig.stop, "valid_for": sig.valid_for, "stop_loss": sig.stop_loss,
            "take_profit": sig.take_profit, "trail_pct": sig.trail_pct, "symbol": sig.symbol, "reason": sig.reason}


def _raw(values: array) -> bytes:  # type: ignore[type-arg]
    if _SWAP:
        values.byteswap()
    return values.tobytes()


class SignalColumns(list):  # type: ignore[type-arg]
    """The batch's `(at, alert, signal)` triples in decision order; a list, so `append` stays C-fast."""

    def to_wire(self) -> dict[str, Any] | list[dict[str, Any]]:
        n = len(self)
        at = array("i", bytes(4 * n))
        alert = array("i", bytes(4 * n))
        kind = array("B", bytes(n))
        side = array("B", bytes(n))
        valid_for = array("i", bytes(4 * n))
        floats = {name: array("d", [_NAN]) * n for name in _FLOATS}
        symbol = array("i", bytes(4 * n))
        reason = array("i", bytes(4 * n))
        symbols: dict[str, int] = {}
        reasons: dict[str, int] = {}
        try:
            for i, (a, al, sig) in enumerate(self):
                at[i] = a
                alert[i] = -1 if al is None else al
                kind[i] = _TYPES[sig.type]
                side[i] = _SIDES[sig.side]
                for name in _FLOATS:
                    value = getattr(sig, name)
                    if value is not None:
                        if type(value) not in (float, int) or value != value:
                            raise ValueError(name)  # NaN would read as nil; a non-number as garbage
                        floats[name][i] = value
                v = sig.valid_for
                if v is not None:
                    if type(v) is not int or v == 0 or not -_I32 <= v <= _I32:
                        raise ValueError("valid_for")
                    valid_for[i] = v
                s = sig.symbol
                if s is None:
                    symbol[i] = -1
                else:
                    if type(s) is not str:
                        raise ValueError("symbol")
                    symbol[i] = symbols.setdefault(s, len(symbols))
                r = sig.reason
                if r is None:
                    reason[i] = -1
                else:
                    if type(r) is not str:
                        raise ValueError("reason")
                    reason[i] = reasons.setdefault(r, len(reasons))
        except (KeyError, ValueError, TypeError, OverflowError):
            return [signal_map(sig, a, al) for a, al, sig in self]
        return {
            "n": n, "at": _raw(at), "alert": _raw(alert), "type": kind.tobytes(), "side": side.tobytes(),
            "size": _raw(floats["size"]), "price": _raw(floats["price"]), "stop": _raw(floats["stop"]),
            "valid_for": _raw(valid_for), "stop_loss": _raw(floats["stop_loss"]),
            "take_profit": _raw(floats["take_profit"]), "trail_pct": _raw(floats["trail_pct"]),
            "symbol": _raw(symbol), "symbol_dict": list(symbols), "reason": _raw(reason),
            "reason_dict": list(reasons),
        }
