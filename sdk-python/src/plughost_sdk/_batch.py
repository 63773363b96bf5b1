"""A decoded `candles` batch: columns as zero-copy memoryviews over the frame's bytes."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Literal

_LITTLE = sys.byteorder == "little"


def column(data: bytes, code: Literal["q", "d"]) -> Sequence[Any]:
    """View a little-endian column ('q' int64 or 'd' float64) without copying (on little-endian hosts)."""
    if _LITTLE:
        view = memoryview(data)
        return view.cast("q") if code == "q" else view.cast("d")
    values = array(code, data)
    values.byteswap()
    return values


class CandleBatch:
    """What `on_batch` receives. Columns support len/indexing and the buffer protocol
    (`numpy.asarray(batch.close)` is zero-copy)."""

    __slots__ = ("alerts", "close", "high", "indicators", "last", "low", "n", "offset", "open", "symbol",
                 "timestamp", "volume")

    def __init__(self, params: Mapping[str, Any]) -> None:
        cols = params["columns"]
        self.symbol: str = params["symbol"]
        self.offset: int = params["offset"]
        self.n: int = params["n"]
        self.last: bool = bool(params.get("last"))
        self.timestamp = column(cols["timestamp"], "q")
        self.open = column(cols["open"], "d")
        self.high = column(cols["high"], "d")
        self.low = column(cols["low"], "d")
        self.close = column(cols["close"], "d")
        self.volume = column(cols["volume"], "d")
        self.indicators = {name: column(buf, "d") for name, buf in (params.get("indicators") or {}).items()}
        self.alerts: list[Mapping[str, Any]] = list(params.get("alerts") or ())

    def __len__(self) -> int:
        return self.n
