"""Range breakout with a bracket: a stop entry at the edge of the last `lookback` candles' range, with a
stop-loss and a take-profit, long above the range's middle and short below it.

The TypeScript twin `bracket-breakout-ts` does the same arithmetic; a test checks identical trades. Run it
with `size_mode = "fraction"` (and a `size` such as 0.5) to size entries from the equity.
"""

from __future__ import annotations

from typing import Any

from plughost_sdk import Candle, Signal, StrategyContext, StrategyPlugin


class BracketBreakout(StrategyPlugin):
    name = "bracket-breakout"
    version = "1.0.0"

    def initialize(self, config: dict[str, Any]) -> None:
        self.lookback = int(config["lookback"])
        self.stop_pct = float(config["stop_pct"])
        self.target_pct = float(config["target_pct"])
        self.valid_for = int(config["valid_for"])

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        history = ctx.history
        if ctx.position is not None or len(history) < self.lookback + 1:
            return None
        window = history[-(self.lookback + 1):-1]  # the range before this candle
        high = max(c.high for c in window)
        low = min(c.low for c in window)
        # Re-placed on every flat candle: a new entry order replaces the pending one (docs/orders.md 2).
        if candle.close > (high + low) / 2:
            return Signal.entry(side="long", stop=high, valid_for=self.valid_for,
                                stop_loss=high * (1 - self.stop_pct / 100),
                                take_profit=high * (1 + self.target_pct / 100), reason="breakout-long")
        return Signal.entry(side="short", stop=low, valid_for=self.valid_for,
                            stop_loss=low * (1 + self.stop_pct / 100),
                            take_profit=low * (1 - self.target_pct / 100), reason="breakout-short")
