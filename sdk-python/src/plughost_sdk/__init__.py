"""plughost_sdk: write plughost strategy and feature plugins in Python.

    from plughost_sdk import StrategyPlugin, Signal

    class MyStrategy(StrategyPlugin):
        def on_candle(self, candle, ctx):
            return Signal.entry(reason="...")
"""

__version__ = "0.1.0"

from ._batch import CandleBatch
from ._context import History, Indicators, StrategyContext
from ._plugin import FeaturePlugin, StrategyPlugin
from ._types import Alert, BacktestResults, Candle, Position, Signal, Trade

__all__ = [
    "Alert",
    "BacktestResults",
    "Candle",
    "CandleBatch",
    "FeaturePlugin",
    "History",
    "Indicators",
    "Position",
    "Signal",
    "StrategyContext",
    "StrategyPlugin",
    "Trade",
    "__version__",
]
