"""Cross-sectional momentum rotation: one strategy instance sees every symbol's candles in one stream
(merged by time) and trades from one shared cash balance.

When the first candle of a new timestamp arrives, the previous timestamp is complete: every `rebalance_every`
timestamps it ranks the symbols by momentum over `lookback` candles and sends orders to other symbols with
`Signal(..., symbol=...)`: exits for holdings that left the top `top_n`, entries for newcomers. Entries
carry `size=weight`, meant for the run key `size_mode = "fraction"` (a share of the equity when decided).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from plughost_sdk import Candle, Signal, StrategyContext, StrategyPlugin


class MomentumRotation(StrategyPlugin):
    name = "momentum-rotation"
    version = "1.0.0"

    def initialize(self, config: dict[str, Any]) -> None:
        self.lookback = int(config["lookback"])
        self.top_n = int(config["top_n"])
        self.every = int(config["rebalance_every"])
        self.weight = float(config["weight"])
        self.closes: dict[str, deque[float]] = {}
        self.last_ts: int | None = None
        self.groups = 0

    def _momentum(self) -> dict[str, float]:
        return {s: c[-1] / c[0] - 1.0 for s, c in self.closes.items() if len(c) == self.lookback + 1}

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Signal] | None:
        signals: list[Signal] | None = None
        if candle.timestamp != self.last_ts:  # the previous timestamp's candles are all in
            self.last_ts = candle.timestamp
            self.groups += 1
            if self.groups % self.every == 0:
                signals = self._rebalance(ctx)
        closes = self.closes.setdefault(candle.symbol, deque(maxlen=self.lookback + 1))
        closes.append(candle.close)
        return signals

    def _rebalance(self, ctx: StrategyContext) -> list[Signal]:
        momentum = self._momentum()
        ranked = sorted((m, s) for s, m in momentum.items() if m > 0)
        best = {s for _, s in ranked[-self.top_n:]}
        held = set(ctx.positions)
        out = [Signal.exit(symbol=s, reason="rotated-out") for s in sorted(held - best)]
        out += [Signal.entry(symbol=s, size=self.weight, reason=f"momentum {momentum[s]:+.2%}")
                for s in sorted(best - held)]
        return out
