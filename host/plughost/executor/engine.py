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
from ..errors import ConfigError, PlughostError, PluginFailure, PluginProtocolError
from ..loader import load_plugin
from ..protocol.messages import AlertEvent, BatchResult, CandleBatch
from ..proxy import FeatureProxy, PluginProxy, StrategyProxy
from ..registry import PluginEntry, Registry
from .data import AlertRecord, CandleChunk, load_alerts, open_candles
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
    failed: bool = False


@dataclass
class _State:
    books: dict[str, Book] = field(default_factory=dict)
    equity_parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
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
                 progress: Progress | None) -> None:
        self.run = run
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

    def _start(self, entry: PluginEntry) -> PluginProxy:
        proxy: PluginProxy = load_plugin(entry, start_timeout=self.run.start_timeout,
                                         call_timeout=self.run.call_timeout, extra_env=self.run.env)
        self.proxies.append(proxy)
        return proxy

    def _feature_failed(self, feature: _Feature, hook: str, error: PlughostError | dict[str, Any]) -> None:
        record = error.to_dict() if isinstance(error, PlughostError) else {
            "code": "PLUGIN_ERROR", "plugin": feature.entry.name,
            "message": f"{error.get('type', 'Error')}: {error.get('message', '')}",
            "traceback": error.get("traceback"),
        }
        record.setdefault("hook", hook)
        record["hook"] = record.get("hook") or hook
        self.state.warnings.append(record)
        if feature.entry.on_error == "fail":
            if isinstance(error, PlughostError):
                raise error
            raise PluginFailure(f"feature '{feature.entry.name}' failed in {hook}: {record['message']}",
                                plugin=feature.entry.name, hook=hook,
                                hint="its run config entry says onError: fail")
        if isinstance(error, PluginFailure) and not feature.proxy.session.alive:
            feature.failed = True

    def _each_feature(self, hook: str, call: Callable[[_Feature], None]) -> None:
        for feature in self.features:
            if feature.failed:
                continue
            try:
                call(feature)
            except PlughostError as exc:
                self._feature_failed(feature, hook, exc)
            for error in feature.proxy.take_hook_errors():
                self._feature_failed(feature, str(error.get("hook") or hook), error.get("error") or {})

    def start_features(self) -> None:
        for entry in self.run.sorted_features():
            plugin = self.registry.get_runnable(entry.name, type="feature")
            config = resolve_config(plugin, entry.config, base_dir=self.base_dir)
            try:
                proxy = self._start(plugin)
                assert isinstance(proxy, FeatureProxy)
                feature = _Feature(entry, proxy)
                self.features.append(feature)
                proxy.initialize(config, self.run_id)
            except PlughostError as exc:
                if entry.on_error == "fail":
                    raise
                self.state.warnings.append({**exc.to_dict(), "hook": "initialize"})
                if self.features and self.features[-1].entry is entry:
                    self.features[-1].failed = True

    def pre_run(self) -> None:
        def call(feature: _Feature) -> None:
            changed = feature.proxy.pre_run(self.run.to_user_dict())
            if changed is not None:
                self.run = check_pre_run_change(self.run, changed, feature.entry.name)
        for feature in self.features:
            if feature.failed:
                continue
            try:
                call(feature)
            except ConfigError:
                raise  # a refused change is the feature's bug and the run cannot trust its config
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
            wire = batch.to_wire()
            self._each_feature("on_candle", lambda f, b=batch, w=wire: f.proxy.send_candles(b, w))
            result = strategy.run_batch(batch)
            start = (book.cash, book.size, book.entry_price)
            changes = self._apply(book, batch, result)
            self._check_mirror(strategy.name, book, result)
            pnl, in_pos = batch_equity(book, changes, batch.close, start)
            if batch.last:
                book.close_end_of_data(int(batch.timestamp[-1]), float(batch.close[-1]))
                pnl[-1] = book.cash
                in_pos[-1] = False
                self.state.buy_and_hold.append((float(batch.close[-1]) / first_close - 1.0) * 100.0)
            self.state.equity_parts.append((symbol, batch.timestamp, pnl, in_pos))
            self.state.candles += len(batch)
            if len(book.trades) > sent_trades:
                new = [t.to_dict() for t in book.trades[sent_trades:]]
                sent_trades = len(book.trades)
                self._each_feature("on_trade", lambda f, n=new: f.proxy.send_trades(n))
            if self.progress:
                self.progress(len(batch))

    def _apply(self, book: Book, batch: CandleBatch, result: BatchResult) -> list[tuple[int, float, float, float]]:
        changes = []
        n = len(batch)
        for s in result.signals:
            if s.alert is None:
                i = s.at
                fill, low, high, ts = float(batch.close[i]), float(batch.low[i]), float(batch.high[i]), int(
                    batch.timestamp[i])
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

    def equity(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The portfolio equity curve: every symbol's marked P&L, carried forward, summed on the union of times."""
        capital = self.run.initial_capital
        parts = self.state.equity_parts
        if not parts:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, bool)
        by_symbol: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for symbol, ts, pnl, pos in parts:
            by_symbol.setdefault(symbol, []).append((ts, pnl, pos))
        series = {s: tuple(np.concatenate(c) for c in zip(*chunks, strict=True)) for s, chunks in by_symbol.items()}
        if len(series) == 1:
            ts, pnl, pos = next(iter(series.values()))
            return ts, capital + pnl, pos
        times = np.unique(np.concatenate([s[0] for s in series.values()]))
        total = np.zeros(len(times))
        in_pos = np.zeros(len(times), bool)
        for ts, pnl, pos in series.values():
            idx = np.searchsorted(ts, times, side="right") - 1
            seen = idx >= 0
            total[seen] += pnl[idx[seen]]
            in_pos[seen] |= pos[idx[seen]] & (times[seen] <= ts[-1])
        return times, capital + total, in_pos

    def post_run(self, summary: dict[str, Any], trades: list[TradeRow], equity: tuple[np.ndarray, np.ndarray]) -> None:
        results = {
            "run_id": self.run_id, "status": summary["status"], "metrics": json_safe(summary["metrics"]),
            "trades": trades_columns(trades),
            "equity": {"timestamp": equity[0].tolist(), "equity": equity[1].tolist()},
            "config": self.strategy_config,
        }

        def call(feature: _Feature) -> None:
            out = feature.proxy.post_run(results)
            if not out:
                return
            name = feature.entry.name
            metrics = out.get("metrics") or {}
            if isinstance(metrics, dict):
                self.state.plugin_metrics[name] = {
                    str(k): (float(v) if isinstance(v, int | float) else None) for k, v in metrics.items()}
            files = {}
            for fname, content in (out.get("artifacts") or {}).items():
                if isinstance(fname, str) and safe_artifact_name(fname) and isinstance(content, str | bytes):
                    files[fname] = content
                else:
                    self.state.warnings.append({"code": "ARTIFACT_REFUSED", "plugin": name, "hook": "on_post_run",
                                                "message": f"artifact name {fname!r} is not a plain file name"})
            if files:
                self.state.artifacts[name] = files

        self._each_feature("on_post_run", call)

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
            failure = proxy.session.teardown_error
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
    job = _Run(run, registry, run_id, base_dir, progress)
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
        raise
    status = "ok" if error is None else "failed"
    trades = job.state.trades
    ts, values, in_pos = job.equity()
    metrics = MetricsAccumulator(initial_capital=job.run.initial_capital)
    if len(ts):
        metrics.add_equity(ts, values, in_pos)
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
    try:
        if error is None:
            job.post_run(summary, trades, (ts, values))
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
    run_dir = RunWriter(out_dir, run_id).write(summary, trades, (ts, values), job.state.artifacts)
    return RunOutcome(run_id, summary["status"], summary, error, run_dir)
