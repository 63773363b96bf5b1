"""SMA crossover, computed incrementally from closes; the same rule as the TypeScript `simple-ma`."""

from __future__ import annotations

from collections import deque
from typing import Any

from plughost_sdk import Candle, Signal, StrategyContext, StrategyPlugin


class _Averages:
    __slots__ = ("fast", "fast_sum", "prev_diff", "slow", "slow_sum", "window")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast, self.slow = fast, slow
        self.window: deque[float] = deque()
        self.fast_sum = 0.0
        self.slow_sum = 0.0
        self.prev_diff: float | None = None


class SmaCross(StrategyPlugin):
    name = "sma-cross"
    version = "1.0.0"

    def initialize(self, config: dict[str, Any]) -> None:
        self.fast = int(config["fast"])
        self.slow = int(config["slow"])
        self.fraction = float(config.get("fraction", 0.95))
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        self.state: dict[str, _Averages] = {}

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        st = self.state.get(candle.symbol)
        if st is None:
            st = self.state[candle.symbol] = _Averages(self.fast, self.slow)
        window = st.window
        window.append(candle.close)
        st.fast_sum += candle.close
        st.slow_sum += candle.close
        n = len(window)
        if n > st.fast:
            st.fast_sum -= window[n - 1 - st.fast]
        if n > st.slow:
            st.slow_sum -= window.popleft()
            n -= 1
        if n < st.slow:
            return None
        fast_sma = st.fast_sum / st.fast
        slow_sma = st.slow_sum / st.slow
        prev = st.prev_diff
        st.prev_diff = diff = fast_sma - slow_sma
        if prev is None:
            return None
        if prev <= 0 < diff:
            # Sized from the equity: units at this close; the order fills at the next open.
            return Signal.entry(size=self.fraction * ctx.equity / candle.close, reason="golden-cross")
        if prev >= 0 > diff:
            return Signal.exit(reason="death-cross")
        return None
