"""Benchmark feature: counts the candles it is sent (on_candle) and reports the count (on_post_run)."""

from __future__ import annotations

from typing import Any

from plughost_sdk import BacktestResults, Candle, FeaturePlugin


class CountCandles(FeaturePlugin):
    def initialize(self, config: dict[str, Any]) -> None:
        self.count = 0

    def on_candle(self, candle: Candle) -> None:
        self.count += 1

    def on_post_run(self, results: BacktestResults) -> dict[str, Any]:
        return {"metrics": {"candles_seen": self.count}}
