"""The base classes plugin authors subclass."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ._batch import CandleBatch
from ._context import StrategyContext
from ._types import Alert, Candle, Signal, Trade

COOKIE_VAR = "PLUGHOST_MAGIC_COOKIE"
COOKIE = "plughost-plugin-v1"


def _hint_if_run_by_hand(cls: type) -> None:
    # A plugin file run as a script would just define a class and exit silently; say what to do instead.
    if cls.__module__ == "__main__" and os.environ.get(COOKIE_VAR) != COOKIE:
        print(
            f"{cls.__name__} is a plughost plugin: it runs inside `plughost run`, not on its own. "
            "Try `plughost validate-plugin <its folder>` or `plughost run --strategy <name> --candles <file>`.",
            file=sys.stderr,
        )


class StrategyPlugin:
    """Subclass and implement `on_candle` (or the vectorized `on_batch`). Methods may be `async def`."""

    name: ClassVar[str | None] = None
    version: ClassVar[str | None] = None
    plugin_type: ClassVar[str] = "strategy"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _hint_if_run_by_hand(cls)

    def initialize(self, config: dict[str, Any]) -> None:
        """Called once per run with the plugin's effective config (validated, defaults applied)."""

    def on_alert(self, alert: Alert, ctx: StrategyContext) -> Signal | None:
        return None

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        return None

    def on_batch(self, batch: CandleBatch, ctx: StrategyContext) -> Iterable[tuple[int, Signal]]:
        """Vectorized alternative to on_candle: return (candle index within the batch, Signal) pairs."""
        return ()

    def on_exit(self, ctx: StrategyContext) -> None:
        """Called once at the end of each symbol's data, before the host closes an open position."""


class FeaturePlugin:
    """Subclass and define any of the hooks; the ones you leave out are never called."""

    name: ClassVar[str | None] = None
    version: ClassVar[str | None] = None
    plugin_type: ClassVar[str] = "feature"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _hint_if_run_by_hand(cls)

    def initialize(self, config: dict[str, Any]) -> None:
        """Called once per run with the feature's config."""

    def on_pre_run(self, run_config: dict[str, Any]) -> dict[str, Any] | None:
        """Return the run config to use (or None to keep it)."""
        return None

    def on_post_run(self, results: Any) -> Mapping[str, Any] | None:
        """Return {"metrics": {name: number}, "artifacts": {filename: str | bytes}} or None."""
        return None

    def on_trade(self, trade: Trade) -> None: ...

    def on_candle(self, candle: Candle) -> None: ...


STRATEGY_METHODS = ("initialize", "on_alert", "on_candle", "on_batch", "on_exit")
FEATURE_METHODS = ("initialize", "on_pre_run", "on_post_run", "on_trade", "on_candle")


def implemented_methods(plugin: object, base: type) -> list[str]:
    """Protocol method names the plugin overrides (what `hello` advertises)."""
    names = STRATEGY_METHODS if base is StrategyPlugin else FEATURE_METHODS
    return [n for n in names if getattr(type(plugin), n, None) is not getattr(base, n, None)]
