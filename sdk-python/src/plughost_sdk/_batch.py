"""A decoded `candles` batch: columns as zero-copy memoryviews over the frame's bytes."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Literal

_LITTLE = sys.byteorder == "little"


def column(data: bytes, code: Literal["q", "d", "i"]) -> Sequence[Any]:
    """View a little-endian column ('q' int64, 'i' int32 or 'd' float64) without copying (on little-endian
    hosts)."""
    if _LITTLE:
        return memoryview(data).cast(code)
    values = array(code, data)
    values.byteswap()
    return values


class CandleBatch:
    """What `on_batch` receives: a slice of the run's one stream (every symbol merged by time).

    Columns support len/indexing and the buffer protocol (`numpy.asarray(batch.close)` is zero-copy).
    `symbol_ids[i]` indexes `symbols` (the run's symbols, sorted); `symbol` is the symbol's name when the
    run has only one, else None. `ends` lists the indexes of candles that are their symbol's last."""

    __slots__ = ("alerts", "close", "ends", "high", "indicators", "last", "low", "n", "offset", "open", "symbol",
                 "symbol_ids", "symbols", "timestamp", "volume")

    def __init__(self, params: Mapping[str, Any], symbols: Sequence[str] | None = None) -> None:
        cols = params["columns"]
        self.symbols: list[str] = list(params.get("symbols") or symbols or ())
        self.symbol: str | None = self.symbols[0] if len(self.symbols) == 1 else None
        self.offset: int = params["offset"]
        self.n: int = params["n"]
        self.last: bool = bool(params.get("last"))
        self.timestamp = column(cols["timestamp"], "q")
        self.open = column(cols["open"], "d")
        self.high = column(cols["high"], "d")
        self.low = column(cols["low"], "d")
        self.close = column(cols["close"], "d")
        self.volume = column(cols["volume"], "d")
        self.symbol_ids = column(cols["symbol"], "i")
        self.ends: list[int] = list(params.get("ends") or ())
        self.indicators = {name: column(buf, "d") for name, buf in (params.get("indicators") or {}).items()}
        self.alerts: list[Mapping[str, Any]] = list(params.get("alerts") or ())

    def __len__(self) -> int:
        return self.n

    def head(self, k: int) -> CandleBatch:
        """The first `k` candles as a batch of their own (views, no copy): what the batch looked like to a
        strategy that had only seen up to candle k-1. The look-ahead check replays strategies on it."""
        out = CandleBatch.__new__(CandleBatch)
        out.symbols, out.symbol, out.offset, out.n, out.last = self.symbols, self.symbol, self.offset, k, False
        for name in ("timestamp", "open", "high", "low", "close", "volume", "symbol_ids"):
            setattr(out, name, getattr(self, name)[:k])
        out.ends = [e for e in self.ends if e < k]
        out.indicators = {name: col[:k] for name, col in self.indicators.items()}
        out.alerts = [a for a in self.alerts if a["at"] < k]
        return out
