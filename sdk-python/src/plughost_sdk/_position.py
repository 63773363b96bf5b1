"""The position mirror: the SDK's copy of the fill rules, so `ctx.position` is right inside a batch.

The host applies the same rules and is the authority; PROTOCOL.md section 8 states them and
protocol/vectors/position_mirror.json pins them for both SDKs.
"""

from __future__ import annotations

from ._types import Position

FILLED = "filled"
IGNORED = "ignored"
REJECTED = "rejected"


class PositionMirror:
    __slots__ = ("default_size", "entry_price", "entry_timestamp", "ignored", "position", "rejected", "size")

    def __init__(self, default_size: float) -> None:
        self.default_size = default_size
        self.ignored = 0
        self.rejected = 0
        self.reset()

    def reset(self) -> None:
        self.size = 0.0
        self.entry_price = 0.0
        self.entry_timestamp = 0
        self.position: Position | None = None

    def apply(
        self,
        signal_type: str,
        price: float | None,
        size: float | None,
        *,
        default_fill: float | None,
        low: float | None,
        high: float | None,
        timestamp: int,
    ) -> tuple[str, float | None, float | None]:
        """Apply one non-hold signal. Returns (outcome, fill price, filled size).

        `default_fill` is the price used when the signal has none (a candle's close, an alert's price or the
        next candle's open); `low`/`high` bound a requested price (None when there is no candle to fill in).
        """
        if (signal_type == "entry") == (self.size > 0):
            self.ignored += 1
            return IGNORED, None, None
        if price is not None:
            if low is None or high is None or not (low <= price <= high):
                self.rejected += 1
                return REJECTED, None, None
            fill = price
        elif default_fill is None:
            self.rejected += 1
            return REJECTED, None, None
        else:
            fill = default_fill
        if signal_type == "entry":
            self.size = size if size is not None else self.default_size
            self.entry_price = fill
            self.entry_timestamp = timestamp
            self.position = Position(fill, self.size, timestamp)
            return FILLED, fill, self.size
        closed = self.size if size is None else min(size, self.size)
        self.size -= closed
        if self.size <= 0:
            self.reset()
        else:
            self.position = Position(self.entry_price, self.size, self.entry_timestamp)
        return FILLED, fill, closed

    def snapshot(self) -> dict[str, float | int] | None:
        if self.position is None:
            return None
        return {"entry_price": self.entry_price, "size": self.size, "entry_timestamp": self.entry_timestamp}
