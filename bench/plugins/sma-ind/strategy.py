from plughost_sdk import Signal, StrategyPlugin

ENTRY = Signal.entry(reason="golden-cross")
EXIT = Signal.exit(reason="death-cross")


class SmaIndicators(StrategyPlugin):
    """Crossover of the host's `fast` and `slow` SMA indicators (NaN until warm: comparisons are False)."""

    def initialize(self, config):
        self.prev = {}

    def on_candle(self, candle, ctx):
        ind = ctx.indicators
        diff = ind["fast"] - ind["slow"]
        prev = self.prev.get(candle.symbol)
        self.prev[candle.symbol] = diff
        if prev is None:
            return None
        if prev <= 0 < diff:
            return ENTRY
        if prev >= 0 > diff:
            return EXIT
        return None
