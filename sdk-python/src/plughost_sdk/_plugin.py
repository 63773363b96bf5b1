"""The base classes plugin authors subclass."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ._batch import CandleBatch
from ._context import StrategyContext
from ._types import Alert, BacktestResults, Candle, Signal, Trade

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
        """Called once after the last event of the run (positions still open were closed at their last close)."""


class FeaturePlugin:
    """Base class of a feature: a plugin that watches a backtest and adds to its results.

    Define any of the hooks below; the ones you leave out are never called (the host does not even
    send their data). Each feature runs in its own process, one instance per run. Methods may be
    `async def`. Order within a run::

        initialize(config)            once, with this feature's config (validated, defaults applied)
        on_pre_run(run_config)        once, before the strategy starts; may return a changed run config
        on_candle(candle)             every candle of every symbol, in stream order (notification)
        on_trade(trade)               every closed trade, after the batch that closed it (notification)
        on_post_run(results)          once, after the run (also after a failed run: see results.status)

    With several features, each hook runs in feature order: higher `priority` in the run config's
    feature entry first, then by name. A hook that raises never changes the strategy's trades: by
    default (`"onError": "continue"`) the error is recorded in summary.json `warnings` with the plugin
    and the hook, and the run goes on; `"onError": "fail"` fails the run instead. See docs/features.md.

        from plughost_sdk import FeaturePlugin

        class CountTrades(FeaturePlugin):
            def initialize(self, config):
                self.n = 0
            def on_trade(self, trade):
                self.n += 1
            def on_post_run(self, results):
                return {"metrics": {"trades_seen": self.n},
                        "artifacts": {"trades.txt": "\n".join(map(str, results.trades))}}
    """

    name: ClassVar[str | None] = None  # optional; when set, must match plugin.json
    version: ClassVar[str | None] = None  # optional; when set, must match plugin.json
    plugin_type: ClassVar[str] = "feature"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _hint_if_run_by_hand(cls)

    def initialize(self, config: dict[str, Any]) -> None:
        """Called once per run, first, with this feature's effective config (its `config` in the run
        config's feature entry, validated against its configSchema, defaults applied)."""

    def on_pre_run(self, run_config: dict[str, Any]) -> dict[str, Any] | None:
        """Called once before the strategy starts, with the whole run config as a dict (`strategy`,
        `candles`, `alerts`, `config` (the strategy's parameters), `size`, `fee_bps`, `features`, ...;
        with several features, the config the previous one returned).

        Return None to keep it, or the run config to use: keys you return replace the given ones (keys
        you leave out keep their value). The host validates it again; changing `strategy`, `candles`,
        `alerts` or `features` is refused and counts as this hook's error (the change is dropped, or the
        run fails under `onError: fail`). The effective run config is recorded in summary.json."""
        return None

    def on_candle(self, candle: Candle) -> None:
        """Called for every candle (`.timestamp .open .high .low .close .volume .symbol`), in stream
        order, symbol after symbol. Candles arrive in batches as notifications: nothing is sent back,
        so a return value is ignored, and the strategy does not wait for you, unless you fall a whole
        pipe behind (then the host waits up to the call timeout, and stops this feature after it).
        Keep it cheap: it runs once per candle."""

    def on_trade(self, trade: Trade) -> None:
        """Called for every closed trade (one row of trades.parquet: `symbol`, `entry_time`,
        `entry_price`, `exit_time`, `exit_price`, `size`, `pnl`, `entry_reason`, `exit_reason`), in
        order, after the candles of the batch that closed it. A notification, like on_candle."""

    def on_post_run(self, results: BacktestResults) -> Mapping[str, Any] | None:
        """Called once after the run with its results: `run_id`, `status` (`ok` or `failed`), `metrics`
        (the core metrics of summary.json), `trades` (a list of Trade), `equity` (`{"timestamp": [...],
        "equity": [...]}`, one point per candle time; thinned to every k-th point beyond 2,000,000
        points) and `config` (the strategy's effective config).

        Return None, or `{"metrics": {name: number}, "artifacts": {filename: str | bytes}}`: metrics
        land in summary.json under `plugin_metrics[<plugin name>]` (NaN is written as null), artifacts
        as files in `runs/<run_id>/artifacts/<plugin name>/` (plain file names: letters, digits, `.`,
        `_`, `-`; str is written as UTF-8)."""
        return None


STRATEGY_METHODS = ("initialize", "on_alert", "on_candle", "on_batch", "on_exit")
FEATURE_METHODS = ("initialize", "on_pre_run", "on_post_run", "on_trade", "on_candle")


def implemented_methods(plugin: object, base: type) -> list[str]:
    """Protocol method names the plugin overrides (what `hello` advertises)."""
    names = STRATEGY_METHODS if base is StrategyPlugin else FEATURE_METHODS
    return [n for n in names if getattr(type(plugin), n, None) is not getattr(base, n, None)]
