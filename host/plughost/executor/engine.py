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
from ..errors import PlughostError, PluginError, PluginProtocolError
from ..loader import load_plugin
from ..protocol.messages import AlertEvent, BatchResult, CandleBatch
from ..proxy import PluginProxy, StrategyProxy
from ..registry import PluginEntry, Registry
from .data import AlertRecord, CandleChunk, load_alerts, open_candles
from .equity import EquityRecorder
from .fills import Book, TradeRow, batch_equity
from .hooks import Features
from .indicators import IndicatorStream, parse_indicators
from .metrics import MetricsAccumulator
from .results import RunWriter, json_safe, trades_columns
from .runconfig import RunConfig

# progress(candles_done_in_this_step, total_candles_of_the_run): called once with 0 when the total is known
Progress = Callable[[int, int], None]


@dataclass
class RunOutcome:
    run_id: str
    status: str
    summary: dict[str, Any]
    error: PlughostError | None
    run_dir: Path | None


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
        self.features = Features(run_id, self.state.warnings)
        self.strategy_config: dict[str, Any] = {}
        self.strategy_entry: PluginEntry | None = None
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.total_candles = 0

    # -- plugins --------------------------------------------------------------------------------

    def _start(self, entry: PluginEntry, call_timeout: float | None = None) -> PluginProxy:
        proxy: PluginProxy = load_plugin(entry, start_timeout=self.run.start_timeout,
                                         call_timeout=call_timeout or self.run.call_timeout, extra_env=self.run.env)
        self.proxies.append(proxy)
        if self.run.memory_limit_mb is not None:
            proxy.session.limit_memory(self.run.memory_limit_mb)
        return proxy

    # -- the loop -------------------------------------------------------------------------------

    def execute(self) -> None:
        run = self.run
        self.strategy_entry = self.registry.get_runnable(run.strategy, type="strategy")
        self.features.start(self.run, self.registry, self.base_dir, self._start)
        self.run = self.features.pre_run(self.run)
        run = self.run
        self.strategy_config = resolve_config(self.strategy_entry, run.config, base_dir=self.base_dir)
        specs = parse_indicators(run.indicators)
        source = open_candles(self._path(run.candles))
        alerts = load_alerts(self._path(run.alerts)) if run.alerts else {}
        symbols = source.symbols()
        self.total_candles = sum(source.count(s) for s in symbols)
        if self.progress:
            self.progress(0, self.total_candles)
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
                self.features.candles(batch, batch.to_wire())
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
                self.features.trades([t.to_dict() for t in book.trades[sent_trades:]])
                sent_trades = len(book.trades)
            if self.progress:
                self.progress(len(batch), self.total_candles)

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
        """The features' on_post_run with the run's results (also for a failed run: then errors are
        only recorded)."""
        if not self.features:
            return
        ts, values, step = equity  # already thinned to MAX_POST_RUN_EQUITY_POINTS by the recorder
        self.features.post_run({
            "run_id": self.run_id, "status": summary["status"], "metrics": json_safe(summary["metrics"]),
            "trades": trades_columns(trades),
            "equity": {"timestamp": ts.tolist(), "equity": values.tolist()},
            "config": self.strategy_config,
            "equity_step": step,  # 1: one point per candle time; k: every k-th point (long runs)
        }, record_only=record_only)

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
    summary["plugin_metrics"] = job.features.plugin_metrics
    summary["warnings"] = job.state.warnings
    summary["plugins"] = job.plugin_report()
    job.close_all()
    summary["duration_s"] = round(time.time() - started, 4)
    summary["timings"] = {k: round(v, 4) for k, v in job.timings.items()}
    if job.timings.get("loop_s"):
        summary["timings"]["candles_per_s"] = round(job.state.candles / job.timings["loop_s"])
    run_dir = writer.write(summary, trades, job.features.artifacts)
    return RunOutcome(run_id, summary["status"], summary, error, run_dir)
