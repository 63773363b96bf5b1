import numpy as np
from plughost_sdk import Signal, StrategyPlugin

ENTRY = Signal.entry(reason="golden-cross")
EXIT = Signal.exit(reason="death-cross")


class SmaIndicatorsVectorized(StrategyPlugin):
    """The same rule as bench-sma-ind, one numpy pass per batch; the previous diff is carried across batches."""

    def initialize(self, config):
        self.prev = {}

    def on_batch(self, batch, ctx):
        diff = np.asarray(batch.indicators["fast"]) - np.asarray(batch.indicators["slow"])
        prev = np.empty_like(diff)
        prev[0] = self.prev.get(batch.symbol, np.nan)
        prev[1:] = diff[:-1]
        self.prev[batch.symbol] = diff[-1]
        up = np.flatnonzero((prev <= 0) & (diff > 0))
        down = np.flatnonzero((prev >= 0) & (diff < 0))
        signals = [(int(i), ENTRY) for i in up] + [(int(i), EXIT) for i in down]
        signals.sort(key=lambda pair: pair[0])
        return signals
