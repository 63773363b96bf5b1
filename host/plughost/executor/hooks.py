"""A run's feature plugins: started in hook order, their hooks called as the contract says, and every
failure put through the feature's error policy. What the hooks produce (warnings, plugin metrics,
artifacts) is collected here for the run's summary and folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client.proxies import FeatureProxy, PluginProxy
from ..errors import PlughostError, PluginFailure, WarningCode
from ..plugins.config import resolve_config
from ..plugins.registry import PluginEntry, Registry
from ..protocol.messages import CandleBatch
from ..protocol.methods import Hook
from .results import safe_artifact_name
from .runconfig import FeatureEntry, RunConfig, check_pre_run_change
from .warnings import RunWarning, RunWarnings

StartPlugin = Callable[[PluginEntry, float | None], PluginProxy]

_METRIC, _ARTIFACT = WarningCode.METRIC_REFUSED, WarningCode.ARTIFACT_REFUSED


@dataclass
class _Feature:
    entry: FeatureEntry
    proxy: FeatureProxy
    failed: bool = False  # its process is gone (crash, timeout, protocol error): no more hooks

    @property
    def name(self) -> str:
        return self.entry.name

    def wants(self, method: str) -> bool:
        """Whether the plugin implements this protocol method (from its hello): others are never sent."""
        return method in self.proxy.hello.methods


class Features:
    def __init__(self, run_id: str, warnings: RunWarnings) -> None:
        self.run_id = run_id
        self.features: list[_Feature] = []
        self.warnings = warnings  # the run's own list: summary.json `warnings`
        self.plugin_metrics: dict[str, dict[str, Any]] = {}  # NaN/inf are written as null (safefile.dumps)
        self.artifacts: dict[str, dict[str, str | bytes]] = {}

    def __bool__(self) -> bool:
        return bool(self.features)

    # -- the hooks, in run order ----------------------------------------------------------------

    def start(self, run: RunConfig, registry: Registry, base_dir: Path | None, start: StartPlugin) -> None:
        """Start every feature in hook order and initialize it with its resolved config. A feature's
        bad config or unknown name fails the run (the user's input is wrong); a feature that fails to
        start follows its error policy."""
        for entry in run.sorted_features():
            plugin = registry.get_runnable(entry.name, type="feature")
            config = resolve_config(plugin, entry.config, base_dir=base_dir)
            try:
                proxy = start(plugin, entry.timeout)
            except PlughostError as exc:
                if entry.on_error == "fail":
                    raise
                self.warnings.add(RunWarning.of_error(exc.code, exc, plugin=entry.name, hook=Hook.INITIALIZE.value,
                                                      count=1))
                continue
            assert isinstance(proxy, FeatureProxy)
            feature = _Feature(entry, proxy)
            self.features.append(feature)
            try:
                proxy.initialize(config, self.run_id)
            except PlughostError as exc:
                self._failed(feature, Hook.INITIALIZE, exc)
                feature.failed = True  # a feature that could not initialize gets no hooks

    def pre_run(self, run: RunConfig) -> RunConfig:
        """The on_pre_run chain, in feature order: each feature sees the config the previous one
        returned. A refused change (a frozen key, an invalid config) is that feature's error under its
        policy: with `continue` the change is dropped and recorded, with `fail` the run fails."""
        for feature in self.features:
            if feature.failed or not feature.wants(Hook.ON_PRE_RUN):
                continue
            try:
                changed = feature.proxy.pre_run(run.to_user_dict())
                if changed is not None:
                    run = check_pre_run_change(run, changed, feature.name)
            except PlughostError as exc:
                self._failed(feature, Hook.ON_PRE_RUN, exc)
        return run

    def candles(self, batch: CandleBatch, wire: dict[str, Any]) -> None:
        """Notifications: written to each feature's pipe and not waited for, so features run alongside
        the strategy. A full pipe (a feature slower than the strategy) blocks the write up to that
        feature's call timeout, then it is timed out and killed."""
        self._each(Hook.ON_CANDLE, lambda f: f.proxy.send_candles(batch, wire))

    def trades(self, trades: list[dict[str, Any]]) -> None:
        self._each(Hook.ON_TRADE, lambda f: f.proxy.send_trades(trades))

    def post_run(self, results: dict[str, Any], *, record_only: bool = False) -> None:
        """on_post_run for every live feature, in order, with the run's results; collects `metrics`
        into plugin_metrics and `artifacts` for the run folder. Also called for a failed run
        (`results.status` says so); then errors are only recorded."""

        def call(feature: _Feature) -> None:
            if not feature.wants(Hook.ON_POST_RUN):
                # A barrier instead: the plugin handles messages in order, so once it answers, every
                # hook_error it sent for earlier notifications has been read (and a lagging feature
                # has finished its candles, or timed out).
                feature.proxy.ping()
                return
            out = feature.proxy.post_run(results)
            if out:
                self._collect(feature.name, out)

        self._each(Hook.ON_POST_RUN, call, record_only=record_only, every=True)

    # -- error policy ---------------------------------------------------------------------------

    def _each(self, hook: str, call: Callable[[_Feature], None], *, record_only: bool = False,
              every: bool = False) -> None:
        """`call` for each live feature that implements `hook` (`every`: each live feature), in order,
        then the hook errors it has reported so far, each through the feature's error policy."""
        for feature in self.features:
            if feature.failed or not (every or feature.wants(hook)):
                continue
            try:
                call(feature)
            except PlughostError as exc:
                self._failed(feature, hook, exc, record_only=record_only)
            finally:
                self._take_hook_errors(feature, record_only=record_only)

    def _take_hook_errors(self, feature: _Feature, *, record_only: bool = False) -> None:
        for report in feature.proxy.take_hook_errors():
            self._failed(feature, report.hook, report.error, report.count, record_only=record_only)

    def _failed(self, feature: _Feature, hook: str, exc: PlughostError, count: int = 1, *,
                record_only: bool = False) -> None:
        """Apply the feature's error policy to one failed hook.

        `continue` (default): the error lands in summary.json `warnings` with the plugin and the hook
        (repeats of the same plugin/hook/code are counted, not copied), the run goes on, and a feature
        whose process is gone gets no further hooks. `fail`: the error becomes the run's error.
        `record_only` (hooks of a run that has already failed) never raises."""
        name = feature.name
        if isinstance(exc, PluginFailure) and not feature.proxy.alive:
            feature.failed = True
        if feature.entry.on_error == "fail" and not record_only:
            hint = (exc.hint + "; " if exc.hint else "") + (
                f"the run failed because feature '{name}' has onError: fail in its run config entry "
                "(use onError: continue to record the error and go on)")
            raise exc.evolve(hint=hint, **({"hook": hook} if isinstance(exc, PluginFailure) else {}))
        self.warnings.count(RunWarning.of_error(exc.code, exc, plugin=name, hook=str(hook), count=count))

    def _collect(self, name: str, out: dict[str, Any]) -> None:
        """Metrics must be numbers (NaN/Inf are written as null); artifact names must be plain file names."""
        def refuse(code: WarningCode, message: str) -> None:
            self.warnings.add(RunWarning(code.value, name, {"hook": Hook.ON_POST_RUN.value, "message": message,
                                                            "count": 1}))

        metrics = out.get("metrics") or {}
        if isinstance(metrics, dict):
            kept: dict[str, float | None] = {}
            for key, value in metrics.items():
                if value is None:  # "cannot be computed here" (no losing trade, ...): kept as null
                    kept[str(key)] = None
                elif isinstance(value, int | float):  # bools count as 0/1
                    kept[str(key)] = float(value)
                else:
                    refuse(_METRIC, f"feature '{name}' returned metric {key!r} = {value!r:.80}, not a "
                           "number; on_post_run metrics must be numbers (put other data in an artifact)")
            if kept:
                self.plugin_metrics[name] = kept
        else:
            refuse(_METRIC, f"feature '{name}' returned metrics that are not a map of name -> number")
        artifacts = out.get("artifacts") or {}
        if not isinstance(artifacts, dict):
            refuse(_ARTIFACT, f"feature '{name}' returned artifacts that are not a map of filename -> content")
            return
        files: dict[str, str | bytes] = {}
        for fname, content in artifacts.items():
            if not (isinstance(fname, str) and safe_artifact_name(fname)):
                refuse(_ARTIFACT, f"feature '{name}': artifact name {fname!r} is not a plain file name "
                       "(letters, digits, '.', '_', '-'; no folders)")
            elif not isinstance(content, str | bytes):
                refuse(_ARTIFACT, f"feature '{name}': artifact {fname!r} is {type(content).__name__}, "
                       "not text or bytes")
            else:
                files[fname] = content
        if files:
            self.artifacts[name] = files
