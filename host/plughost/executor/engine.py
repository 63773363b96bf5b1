"""One backtest, end to end: plugins up, data streamed through in columnar batches, fills booked,
hooks called, result files written whole. A failure anywhere becomes a `failed` summary, never a
host traceback, and every plugin process is gone when `run_backtest` returns."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from .. import __version__
from ..config import resolve_config
from ..errors import PlughostError, PluginError, PluginFailure, PluginProtocolError
from ..loader import load_plugin
from ..protocol.messages import AlertEvent, BatchResult, CandleBatch
from ..proxy import FeatureProxy, PluginProxy, StrategyProxy
from ..registry import PluginEntry, Registry
from .data import AlertRecord, CandleChunk, load_alerts, open_candles
from .equity import EquityRecorder
from .fills import Book, TradeRow, batch_equity
from .indicators import IndicatorStream, parse_indicators
from .metrics import MetricsAccumulator
from .results import RunWriter, json_safe, safe_artifact_name, trades_columns
from .runconfig import FeatureEntry, RunConfig, check_pre_run_change

Progress = Callable[[int], None]


@dataclass
class RunOutcome:
    run_id: str
    status: str
    summary: dict[str, Any]
    error: PlughostError | None
    run_dir: Path | None


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


# on_post_run gets the equity curve as two lists; beyond this many points it is thinned evenly (the
# last point always kept) so the results frame stays well under the 64 MiB frame limit (~18 bytes a point).
MAX_POST_RUN_EQUITY_POINTS = 2_000_000


@dataclass
class _State:
    books: dict[str, Book] = field(default_factory=dict)
    candles: int = 0
    unmatched_alerts: int = 0
    buy_and_hold: list[float] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    plugin_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, str | bytes]] = field(default_factory=dict)

    @property
    def trades(self) -> list[TradeRow]:
        return [t for book in self.books.values() for t in book.trades]


def _alert_events(pending: list[AlertRecord], pos: int, ts: np.ndarray, last: bool) -> tuple[list[AlertEvent], int]:
    """Alerts that belong to this batch: each goes before the first candle at or after its time."""
    events = []
    end_ts = int(ts[-1])
    while pos < len(pending) and (last or pending[pos].timestamp <= end_ts):
        a = pending[pos]
        at = int(np.searchsorted(ts, a.timestamp, side="left"))
        events.append(AlertEvent(at, a.id, a.timestamp, a.symbol, a.price, dict(a.data)))
        pos += 1
    return events, pos


def _batches(chunks: Iterator[CandleChunk], stream: IndicatorStream, size: int) -> Iterator[CandleBatch]:
    """Re-cut the reader's chunks into protocol batches of `size`, marking the stream's last batch."""
    pending: CandleBatch | None = None
    for chunk in chunks:
        values = stream.next(chunk)
        for start in range(0, len(chunk), size):
            stop = min(start + size, len(chunk))
            batch = CandleBatch(
                chunk.symbol, chunk.offset + start, chunk.timestamp[start:stop], chunk.open[start:stop],
                chunk.high[start:stop], chunk.low[start:stop], chunk.close[start:stop], chunk.volume[start:stop],
                {name: col[start:stop] for name, col in values.items()},
            )
            if pending is not None:
                yield pending
            pending = batch
    if pending is not None:
        pending.last = True
        yield pending


class _Run:
    def __init__(self, run: RunConfig, registry: Registry, run_id: str, base_dir: Path | None,
                 progress: Progress | None, recorder: EquityRecorder) -> None:
        self.run = run
        self.recorder = recorder
        self.registry = registry
        self.run_id = run_id
        self.base_dir = base_dir
        self.progress = progress
        self.state = _State()
        self.proxies: list[PluginProxy] = []
        self.features: list[_Feature] = []
        self.strategy_config: dict[str, Any] = {}
        self.strategy_entry: PluginEntry | None = None
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    # -- plugins --------------------------------------------------------------------------------

    def _start(self, entry: PluginEntry, call_timeout: float | None = None) -> PluginProxy:
        proxy: PluginProxy = load_plugin(entry, start_timeout=self.run.start_timeout,
                                         call_timeout=call_timeout or self.run.call_timeout, extra_env=self.run.env)
        self.proxies.append(proxy)
        if self.run.memory_limit_mb is not None:
            proxy.session.limit_memory(self.run.memory_limit_mb)
        return proxy

    def _feature_failed(self, feature: _Feature, hook: str, error: PlughostError | dict[str, Any],
                        count: int = 1, *, record_only: bool = False) -> None:
        """Apply the feature's error policy to one failed hook.

        `continue` (default): the error lands in summary.json `warnings` with the plugin and the hook
        (repeats of the same plugin/hook/code are counted, not copied), the run goes on, and a feature
        whose process is gone gets no further hooks. `fail`: the error becomes the run's error.
        `record_only` (hooks of a run that has already failed) never raises."""
        name = feature.name
        if isinstance(error, PlughostError):
            exc = error
            if isinstance(error, PluginFailure) and not feature.proxy.session.alive:
                feature.failed = True
        else:  # a hook_error notification: the plugin raised in on_candle/on_trade and carries on
            kind = str(error.get("type") or "Error")
            at = error.get("at")
            where = f" (event {at} of the notification)" if isinstance(at, int) else ""
            exc = PluginError(
                f"feature '{name}' raised {kind} in {hook}{where}: {str(error.get('message') or '')[:2000]}",
                plugin=name, error_type=kind, traceback=str(error.get("traceback") or ""),
                at=at if isinstance(at, int) else None, hook=hook,
                hint="fix the feature (its traceback is in this record); the strategy's trades are unaffected",
            )
        if feature.entry.on_error == "fail" and not record_only:
            if isinstance(exc, PluginFailure):
                exc.hook = hook
            exc.hint = (exc.hint + "; " if exc.hint else "") + (
                f"the run failed because feature '{name}' has onError: fail in its run config entry "
                "(use onError: continue to record the error and go on)")
            raise exc
        record = exc.to_dict()
        record["plugin"] = name
        record["hook"] = hook
        for seen in self.state.warnings:
            if (seen.get("plugin"), seen.get("hook"), seen.get("code")) == (name, hook, record["code"]):
                seen["count"] = int(seen.get("count", 1)) + count
                return
        record["count"] = count
        self.state.warnings.append(record)

    def _each_feature(self, hook: str, call: Callable[[_Feature], None], *, record_only: bool = False,
                      every: bool = False) -> None:
        """`call` for each live feature that implements `hook` (`every`: each live feature), in order,
        then the hook errors it has reported so far, each through the feature's error policy."""
        for feature in self.features:
            if feature.failed or not (every or feature.wants(hook)):
                continue
            try:
                call(feature)
            except PlughostError as exc:
                self._feature_failed(feature, hook, exc, record_only=record_only)
            finally:
                self._take_hook_errors(feature, record_only=record_only)

    def _take_hook_errors(self, feature: _Feature, *, record_only: bool = False) -> None:
        for error in feature.proxy.take_hook_errors():
            count = error.get("count")
            self._feature_failed(feature, str(error.get("hook") or "on_candle"), error.get("error") or {},
                                 count if isinstance(count, int) and count > 0 else 1, record_only=record_only)

    def start_features(self) -> None:
        """Start every feature in hook order and initialize it with its resolved config. A feature's
        bad config or unknown name fails the run (the user's input is wrong); a feature that fails to
        start follows its error policy."""
        for entry in self.run.sorted_features():
            plugin = self.registry.get_runnable(entry.name, type="feature")
            config = resolve_config(plugin, entry.config, base_dir=self.base_dir)
            try:
                proxy = self._start(plugin, entry.timeout)
            except PlughostError as exc:
                if entry.on_error == "fail":
                    raise
                self.state.warnings.append({**exc.to_dict(), "plugin": entry.name, "hook": "initialize", "count": 1})
                continue
            assert isinstance(proxy, FeatureProxy)
            feature = _Feature(entry, proxy)
            self.features.append(feature)
            try:
                proxy.initialize(config, self.run_id)
            except PlughostError as exc:
                self._feature_failed(feature, "initialize", exc)
                feature.failed = True  # a feature that could not initialize gets no hooks

    def pre_run(self) -> None:
        """The on_pre_run chain, in feature order: each feature sees the config the previous one
        returned. A refused change (a frozen key, an invalid config) is that feature's error under its
        policy: with `continue` the change is dropped and recorded, with `fail` the run fails."""
        for feature in self.features:
            if feature.failed or not feature.wants("on_pre_run"):
                continue
            try:
                changed = feature.proxy.pre_run(self.run.to_user_dict())
                if changed is not None:
                    self.run = check_pre_run_change(self.run, changed, feature.name)
            except PlughostError as exc:
                self._feature_failed(feature, "on_pre_run", exc)

    # -- the loop -------------------------------------------------------------------------------

    def execute(self) -> None:
        run = self.run
        self.strategy_entry = self.registry.get_runnable(run.strategy, type="strategy")
        self.start_features()
        self.pre_run()
        run = self.run
        self.strategy_config = resolve_config(self.strategy_entry, run.config, base_dir=self.base_dir)
        specs = parse_indicators(run.indicators)
        source = open_candles(self._path(run.candles))
        alerts = load_alerts(self._path(run.alerts)) if run.alerts else {}
        symbols = source.symbols()
        self.state.unmatched_alerts = sum(len(v) for k, v in alerts.items() if k not in symbols)
        strategy = cast(StrategyProxy, self._start(self.strategy_entry))
        strategy.initialize(self.strategy_config, self.run_id, history=run.history, size=run.size, symbols=symbols)
        self.timings["setup_s"] = time.perf_counter() - self.started
        for symbol in symbols:
            self._run_symbol(strategy, symbol, source.iter_chunks(symbol), alerts.get(symbol, []),
                             IndicatorStream(specs))
        self.timings["loop_s"] = time.perf_counter() - self.started - self.timings["setup_s"]

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    def _run_symbol(self, strategy: StrategyProxy, symbol: str, chunks: Iterator[CandleChunk],
                    pending: list[AlertRecord], indicators: IndicatorStream) -> None:
        book = Book(symbol, self.run.size, self.run.fee_bps)
        self.state.books[symbol] = book
        alert_pos = 0
        sent_trades = 0
        first_close: float | None = None
        for batch in _batches(chunks, indicators, self.run.batch_size):
            batch.alerts, alert_pos = _alert_events(pending, alert_pos, batch.timestamp, batch.last)
            if first_close is None:
                first_close = float(batch.close[0])
            if self.features:
                # Notifications: written to each feature's pipe and not waited for, so features run
                # alongside the strategy. A full pipe (a feature slower than the strategy) blocks the
                # write up to that feature's call timeout, then it is timed out and killed.
                wire = batch.to_wire()

                def send_candles(f: _Feature, b: CandleBatch = batch, w: dict[str, Any] = wire) -> None:
                    f.proxy.send_candles(b, w)
                self._each_feature("on_candle", send_candles)
            try:
                result = strategy.run_batch(batch)
            except PluginError as exc:
                if exc.at is not None and 0 <= exc.at < len(batch):
                    exc.locate(symbol, int(batch.timestamp[exc.at]))
                raise
            start = (book.cash, book.size, book.entry_price)
            changes = self._apply(book, batch, result)
            self._check_mirror(strategy.name, book, result)
            pnl, in_pos = batch_equity(book, changes, batch.close, start)
            if batch.last:
                book.close_end_of_data(int(batch.timestamp[-1]), float(batch.close[-1]))
                pnl[-1] = book.cash
                in_pos[-1] = False
                self.state.buy_and_hold.append((float(batch.close[-1]) / first_close - 1.0) * 100.0)
            self.recorder.add(symbol, batch.timestamp, pnl, in_pos)
            self.state.candles += len(batch)
            if len(book.trades) > sent_trades and self.features:
                new = [t.to_dict() for t in book.trades[sent_trades:]]
                sent_trades = len(book.trades)

                def send_trades(f: _Feature, n: list[dict[str, Any]] = new) -> None:
                    f.proxy.send_trades(n)
                self._each_feature("on_trade", send_trades)
            if self.progress:
                self.progress(len(batch))

    def _apply(self, book: Book, batch: CandleBatch, result: BatchResult) -> list[tuple[int, float, float, float]]:
        changes = []
        n = len(batch)
        for s in result.signals:
            fill: float | None
            low: float | None
            high: float | None
            if s.alert is None:
                i = s.at
                fill, low, high = float(batch.close[i]), float(batch.low[i]), float(batch.high[i])
                ts = int(batch.timestamp[i])
            else:
                alert = batch.alerts[s.alert]
                if s.at != alert.at:
                    raise PluginProtocolError(f"a signal names alert {s.alert} at candle {s.at}, but that alert "
                                              f"comes before candle {alert.at}", plugin=self.run.strategy)
                nxt = s.at if s.at < n else None
                fill = alert.price if alert.price is not None else (
                    float(batch.open[nxt]) if nxt is not None else None)
                low = float(batch.low[nxt]) if nxt is not None else None
                high = float(batch.high[nxt]) if nxt is not None else None
                ts = alert.timestamp
            book.apply(s.type, s.price, s.size, default_fill=fill, low=low, high=high, timestamp=ts, reason=s.reason)
            changes.append((s.at, book.cash, book.size, book.entry_price))
        return changes

    @staticmethod
    def _check_mirror(plugin: str, book: Book, result: BatchResult) -> None:
        mirror = result.position
        ours = None if book.size <= 0 else (book.entry_price, book.size, book.entry_time)
        theirs = None if mirror is None else (mirror.entry_price, mirror.size, mirror.entry_timestamp)
        same = ours == theirs or (
            ours is not None and theirs is not None and ours[2] == theirs[2]
            and all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in zip(ours[:2], theirs[:2], strict=True))
        )
        if not same:
            raise PluginProtocolError(
                f"position mirror diverged: the host booked {ours}, plugin '{plugin}' reports {theirs}",
                plugin=plugin, hint="the plugin's SDK applies different fill rules; upgrade it to match the host",
            )

    # -- results --------------------------------------------------------------------------------

    def post_run(self, summary: dict[str, Any], trades: list[TradeRow],
                 equity: tuple[np.ndarray, np.ndarray, int], *, record_only: bool = False) -> None:
        """on_post_run for every live feature, in order, with the run's results; collects `metrics`
        into plugin_metrics and `artifacts` for the run folder. Also called for a failed run
        (`results.status` says so); then errors are only recorded."""
        if not self.features:
            return
        ts, values, step = equity  # already thinned to MAX_POST_RUN_EQUITY_POINTS by the recorder
        results = {
            "run_id": self.run_id, "status": summary["status"], "metrics": json_safe(summary["metrics"]),
            "trades": trades_columns(trades),
            "equity": {"timestamp": ts.tolist(), "equity": values.tolist()},
            "config": self.strategy_config,
            "equity_step": step,  # 1: one point per candle time; k: every k-th point (long runs)
        }

        def call(feature: _Feature) -> None:
            if not feature.wants("on_post_run"):
                # A barrier instead: the plugin handles messages in order, so once it answers, every
                # hook_error it sent for earlier notifications has been read (and a lagging feature
                # has finished its candles, or timed out).
                feature.proxy.ping()
                return
            out = feature.proxy.post_run(results)
            if out:
                self._collect(feature.name, out)

        self._each_feature("on_post_run", call, record_only=record_only, every=True)

    def _collect(self, name: str, out: dict[str, Any]) -> None:
        """Metrics must be numbers (NaN/Inf are written as null); artifact names must be plain file names."""
        def refuse(code: str, message: str) -> None:
            self.state.warnings.append({"code": code, "plugin": name, "hook": "on_post_run", "message": message,
                                        "count": 1})

        metrics = out.get("metrics") or {}
        if isinstance(metrics, dict):
            kept: dict[str, float] = {}
            for key, value in metrics.items():
                if isinstance(value, int | float):  # bools count as 0/1
                    kept[str(key)] = float(value)
                else:
                    refuse("METRIC_REFUSED", f"feature '{name}' returned metric {key!r} = {value!r:.80}, not a "
                           "number; on_post_run metrics must be numbers (put other data in an artifact)")
            if kept:
                self.state.plugin_metrics[name] = kept
        else:
            refuse("METRIC_REFUSED", f"feature '{name}' returned metrics that are not a map of name -> number")
        artifacts = out.get("artifacts") or {}
        if not isinstance(artifacts, dict):
            refuse("ARTIFACT_REFUSED", f"feature '{name}' returned artifacts that are not a map of filename -> content")
            return
        files: dict[str, str | bytes] = {}
        for fname, content in artifacts.items():
            if not (isinstance(fname, str) and safe_artifact_name(fname)):
                refuse("ARTIFACT_REFUSED", f"feature '{name}': artifact name {fname!r} is not a plain file name "
                       "(letters, digits, '.', '_', '-'; no folders)")
            elif not isinstance(content, str | bytes):
                refuse("ARTIFACT_REFUSED", f"feature '{name}': artifact {fname!r} is {type(content).__name__}, "
                       "not text or bytes")
            else:
                files[fname] = content
        if files:
            self.state.artifacts[name] = files

    def plugin_report(self) -> dict[str, Any]:
        report = {}
        for proxy in self.proxies:
            report[proxy.name] = {
                "type": proxy.hello.plugin_type, "sdk": f"{proxy.hello.sdk} {proxy.hello.sdk_version}",
                "calls": proxy.stats.summary(), **proxy.sample_resources(),
            }
        return report

    def close_all(self) -> None:
        for proxy in self.proxies:
            with contextlib.suppress(Exception):
                proxy.close()
            failure = proxy.teardown_error
            if failure is not None:  # results already received stay; the run records the failure
                self.state.warnings.append({**failure.to_dict(), "code": "TEARDOWN_FAILED", "cause": failure.code})


def run_backtest(
    run: RunConfig,
    *,
    registry: Registry,
    out_dir: Path,
    run_id: str,
    base_dir: Path | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Run one backtest and write DIR/runs/<run_id>/. Never raises for a plugin's or the data's fault."""
    started = time.time()
    writer = RunWriter(out_dir, run_id)
    writer.prepare()
    job = _Run(run, registry, run_id, base_dir, progress, EquityRecorder(writer.spill_path))
    error: PlughostError | None = None
    try:
        job.execute()
    except PlughostError as exc:
        error = exc
    except Exception as exc:  # a host bug must still leave a record and no stray processes
        error = PlughostError(f"internal error: {type(exc).__name__}: {exc}",
                              hint="this is a plughost bug; please report it with the summary.json")
    except BaseException:  # Ctrl-C, SystemExit: no result to write, but no process may outlive us
        job.close_all()
        writer.discard()
        raise
    status = "ok" if error is None else "failed"
    trades = job.state.trades
    metrics = MetricsAccumulator(initial_capital=job.run.initial_capital)
    equity_sample = job.recorder.finish(job.run.initial_capital, writer.equity_path, metrics,
                                        MAX_POST_RUN_EQUITY_POINTS)
    bh = job.state.buy_and_hold
    summary: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "strategy": run.strategy,
        "config": job.strategy_config,
        "error": None if error is None else error.to_dict(),
        "metrics": metrics.finish(trades_columns(trades), buy_and_hold_return_pct=(sum(bh) / len(bh)) if bh else None),
        "plugin_metrics": {},
        "ignored_signals": sum(b.ignored for b in job.state.books.values()),
        "rejected_signals": sum(b.rejected for b in job.state.books.values()),
        "unmatched_alerts": job.state.unmatched_alerts,
        "candles": job.state.candles,
        "symbols": sorted(job.state.books),
        "features": [f.name for f in job.run.sorted_features()],
        "run_config": job.run.to_user_dict(),
        "warnings": [],
        "started_at": started,
        "duration_s": 0.0,
        "plughost_version": __version__,
    }
    try:  # features get on_post_run on failed runs too (results.status says so), errors only recorded then
        job.post_run(summary, trades, equity_sample, record_only=error is not None)
    except PlughostError as exc:
        error = exc
        summary["status"], summary["error"] = "failed", exc.to_dict()
    summary["plugin_metrics"] = job.state.plugin_metrics
    summary["warnings"] = job.state.warnings
    summary["plugins"] = job.plugin_report()
    job.close_all()
    summary["duration_s"] = round(time.time() - started, 4)
    summary["timings"] = {k: round(v, 4) for k, v in job.timings.items()}
    if job.timings.get("loop_s"):
        summary["timings"]["candles_per_s"] = round(job.state.candles / job.timings["loop_s"])
    run_dir = writer.write(summary, trades, job.state.artifacts)
    return RunOutcome(run_id, summary["status"], summary, error, run_dir)
