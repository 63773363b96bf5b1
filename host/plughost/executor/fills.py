"""The fill rules: the one place the host decides what a signal does (CONTRACT.md "Fills").

The host is the authority; the SDKs keep a mirror of the position using the same table
(PROTOCOL.md section 8, protocol/vectors/position_mirror.json), and the engine compares the two.
This module adds what the mirror does not need: fees, P&L, trades and the equity curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FILLED, IGNORED, REJECTED = "filled", "ignored", "rejected"


@dataclass(frozen=True)
class TradeRow:
    symbol: str
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    size: float
    pnl: float
    entry_reason: str | None
    exit_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "entry_time": self.entry_time, "entry_price": self.entry_price,
            "exit_time": self.exit_time, "exit_price": self.exit_price, "size": self.size, "pnl": self.pnl,
            "entry_reason": self.entry_reason, "exit_reason": self.exit_reason,
        }


TRADE_COLUMNS = tuple(TradeRow.__dataclass_fields__)


@dataclass
class Book:
    """One symbol's position, realized cash P&L (fees included) and closed trades."""

    symbol: str
    default_size: float = 1.0
    fee_bps: float = 0.0
    size: float = 0.0
    entry_price: float = 0.0
    entry_time: int = 0
    entry_reason: str | None = None
    entry_fee_left: float = 0.0  # entry fee not yet charged to a closed trade (partial exits share it)
    cash: float = 0.0  # realized P&L minus every fee paid so far
    ignored: int = 0
    rejected: int = 0
    trades: list[TradeRow] = field(default_factory=list)

    def _fee(self, price: float, size: float) -> float:
        return abs(price * size) * self.fee_bps / 10_000.0

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
        reason: str | None,
    ) -> str:
        """Apply one non-hold signal; see the table in PROTOCOL.md section 8 for the rules."""
        if (signal_type == "entry") == (self.size > 0):
            self.ignored += 1
            return IGNORED
        if price is not None:
            if low is None or high is None or not (low <= price <= high):
                self.rejected += 1
                return REJECTED
            fill = price
        elif default_fill is None:
            self.rejected += 1
            return REJECTED
        else:
            fill = default_fill
        if signal_type == "entry":
            self.size = size if size is not None else self.default_size
            self.entry_price = fill
            self.entry_time = timestamp
            self.entry_reason = reason
            self.entry_fee_left = self._fee(fill, self.size)
            self.cash -= self.entry_fee_left
        else:
            self._close(size if size is not None and size < self.size else self.size, fill, timestamp, reason)
        return FILLED

    def _close(self, size: float, price: float, timestamp: int, reason: str | None) -> None:
        exit_fee = self._fee(price, size)
        entry_fee = self.entry_fee_left * (size / self.size)
        gross = (price - self.entry_price) * size
        self.cash += gross - exit_fee
        self.trades.append(TradeRow(self.symbol, self.entry_time, self.entry_price, timestamp, price, size,
                                    gross - entry_fee - exit_fee, self.entry_reason, reason))
        self.entry_fee_left -= entry_fee
        self.size -= size
        if self.size <= 0:
            self.size = 0.0
            self.entry_fee_left = 0.0

    def close_end_of_data(self, timestamp: int, close: float) -> None:
        if self.size > 0:
            self._close(self.size, close, timestamp, "end_of_data")

    def mark(self, close: float) -> float:
        """P&L of this symbol so far, marked to `close`."""
        return self.cash + self.size * (close - self.entry_price)


def batch_equity(
    book: Book,
    changes: list[tuple[int, float, float, float]],
    close: np.ndarray,
    start: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-candle marked P&L and in-position flags for one batch, vectorized.

    `start` is (cash, size, entry_price) before the batch; `changes` lists (candle index, cash, size,
    entry_price) after each fill, in order. The state after the last change at index i applies to i's close.
    """
    n = len(close)
    cash = np.empty(n)
    size = np.empty(n)
    entry = np.empty(n)
    state = start
    pos = 0
    for at, c, s, e in changes:
        if at >= n:
            continue  # an alert after the last candle: no candle of this batch is marked with it
        cash[pos:at] = state[0]
        size[pos:at] = state[1]
        entry[pos:at] = state[2]
        pos = at
        state = (c, s, e)
    cash[pos:] = state[0]
    size[pos:] = state[1]
    entry[pos:] = state[2]
    return cash + size * (close - entry), size > 0
