"""RSI mean reversion, computed incrementally per symbol (Wilder's smoothing), no host indicators needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plughost_sdk import Candle, Signal, StrategyContext, StrategyPlugin


@dataclass
class _Rsi:
    period: int
    prev_close: float | None = None
    gains: float = 0.0
    losses: float = 0.0
    seen: int = 0

    def update(self, close: float) -> float | None:
        """Feed one close; the RSI once `period` changes have been seen, else None."""
        if self.prev_close is None:
            self.prev_close = close
            return None
        change = close - self.prev_close
        self.prev_close = close
        gain, loss = max(change, 0.0), max(-change, 0.0)
        self.seen += 1
        if self.seen <= self.period:  # the seed: a plain average of the first `period` changes
            self.gains += gain / self.period
            self.losses += loss / self.period
            if self.seen < self.period:
                return None
        else:
            self.gains = (self.gains * (self.period - 1) + gain) / self.period
            self.losses = (self.losses * (self.period - 1) + loss) / self.period
        if self.losses == 0.0:
            return 100.0 if self.gains > 0 else 50.0
        return 100.0 - 100.0 / (1.0 + self.gains / self.losses)


class RsiStrategy(StrategyPlugin):
    name = "rsi-strategy"
    version = "1.0.0"

    def initialize(self, config: dict[str, Any]) -> None:
        self.period = int(config["period"])
        self.oversold = float(config["oversold"])
        self.overbought = float(config["overbought"])
        if self.oversold >= self.overbought:
            raise ValueError(f"oversold ({self.oversold}) must be below overbought ({self.overbought})")
        self.size = config.get("size")
        self.fraction = float(config.get("fraction", 0.3))
        self.rsi: dict[str, _Rsi] = {}

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        rsi = self.rsi.setdefault(candle.symbol, _Rsi(self.period)).update(candle.close)
        if rsi is None:
            return None
        if ctx.position is None and rsi < self.oversold:
            size = self.size if self.size is not None else self.fraction * ctx.equity / candle.close
            return Signal.entry(size=size, reason=f"rsi {rsi:.1f} < {self.oversold:g}")
        if ctx.position is not None and rsi > self.overbought:
            return Signal.exit(reason=f"rsi {rsi:.1f} > {self.overbought:g}")
        return None
