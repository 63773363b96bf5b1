"""One backtest, end to end: plugins up, data streamed through in columnar batches, fills booked,
hooks called, result files written whole. A failure anywhere becomes a `failed` summary, never a
host traceback, and every plugin process is gone when `run_backtest` returns."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from plughost_sdk.orders import TradeRecord

from .._version import __version__
from ..client.proxies import BatchCall, PluginProxy, StrategyProxy
from ..errors import PlughostError, PluginError, WarningCode
from ..plugins.config import resolve_config
from ..plugins.registry import PluginEntry, Registry
from ..protocol.messages import CandleBatch
from ..transport.process import Spawner
from .chart import ChartSampler
from .data import CandleSource, load_alerts, open_candles
from .equity import EquityWriter
from .gcpause import collector_paused
from .hooks import Features
from .indicators import merged_indicators, parse_indicators
from .ledger import Ledger
from .metrics import MetricsAccumulator
from .results import RunWriter, json_safe, trades_columns
from .runconfig import RunConfig
from .runhooks import RunHooks
from .stream import StreamPlan, batches, flat_alerts, plan_stream
from .trades import TradeLog
from .warnings import RunWarning, RunWarnings

# progress(candles_done_in_this_step, total_candles_of_the_run): called once with 0 when the total is known
Progress = Callable[[int, int], None]


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
    ledger: Ledger | None = None
    plan: StreamPlan | None = None
    chart: ChartSampler | None = None
    candles: int = 0
    first_close: dict[int, float] = field(default_factory=dict)
    last_close: dict[int, float] = field(default_factory=dict)
    timestamp_unit: str | None = None
    symbol_from_file_stem: bool = False
    warnings: RunWarnings = field(default_factory=RunWarnings)

    def buy_and_hold_pct(self) -> float | None:
        """The average over symbols of last close / first close - 1, in percent."""
        moves = [(self.last_close[s] / first - 1.0) * 100.0 for s, first in self.first_close.items()]
        return sum(moves) / len(moves) if moves else None

    def watch_closes(self, batch: CandleBatch) -> None:
        sym = batch.symbol
        if len(self.first_close) < len(batch.symbols):
            # return_counts: numpy's plain np.unique imports numpy.ma (~10 ms) to ask whether the array is masked
            for s in np.unique(sym, return_counts=True)[0]:
                if int(s) not in self.first_close:
                    self.first_close[int(s)] = float(batch.close[int(np.argmax(sym == s))])
        if len(batch.symbols) == 1:
            self.last_close[0] = float(batch.close[-1])
            return
        rev = sym[::-1]
        for s in np.unique(sym, return_counts=True)[0]:
            self.last_close[int(s)] = float(batch.close[len(sym) - 1 - int(np.argmax(rev == s))])


class _Run:
    def __init__(self, run: RunConfig, registry: Registry, run_id: str, base_dir: Path | None,
                 progress: Progress | None, equity: Callable[[int, int], EquityWriter],
                 trade_log: Callable[[bool], TradeLog],
                 spawner: Spawner | None = None, hooks: RunHooks | None = None) -> None:
        self.run = run
        self.spawner = spawner
        self.hooks = hooks or RunHooks()
        self.make_equity = equity
        self.equity: EquityWriter | None = None
        self.make_trade_log = trade_log
        self.trade_log: TradeLog | None = None
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
        proxy: PluginProxy = self.hooks.load_plugin(
            entry, start_timeout=self.run.start_timeout, call_timeout=call_timeout or self.run.call_timeout,
            extra_env=self.run.env, sandbox=self.run.sandbox, spawner=self.spawner)
        self.proxies.append(proxy)
        if self.run.memory_limit_mb is not None:
            proxy.limit_memory(self.run.memory_limit_mb)
        return proxy

    def _indicator_specs(self) -> dict[str, dict[str, Any]]:
        """The strategy's declared indicators (plugin.json) under the run's (the run wins a name)."""
        declared = self.strategy_entry.manifest.indicators if self.strategy_entry and self.strategy_entry.manifest \
            else None
        return merged_indicators(declared, self.run.indicators)

    # -- the loop -------------------------------------------------------------------------------

    def execute(self) -> None:
        run = self.run
        self.strategy_entry = self.registry.get_runnable(run.strategy, type="strategy")
        self.features.start(self.run, self.registry, self.base_dir, self._start)
        self.run = self.features.pre_run(self.run)
        run = self.run
        self.strategy_config = resolve_config(self.strategy_entry, run.config, base_dir=self.base_dir)
        specs = parse_indicators(self._indicator_specs())
        # The data is opened and checked on a thread while the strategy's process starts (both mostly wait:
        # on Parquet decoding and on the child's imports), ~0.1 s of a 1M-candle run. A data error still
        # wins over a start failure, as when the data was opened first.
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="plughost-data") as pool:
            opening = pool.submit(self._open_data)
            try:
                strategy = cast(StrategyProxy, self._start(self.strategy_entry))
            except BaseException:
                data_error = opening.exception()  # waits for the data: its error is the one reported
                if data_error is not None:
                    raise data_error from None
                raise
            source, plan = opening.result()
        self.state.timestamp_unit = source.timestamp_unit
        self.state.symbol_from_file_stem = source.symbol_from_file_stem
        self.state.plan = plan
        chart = self.state.chart = ChartSampler(plan.symbols, plan.counts)
        self.total_candles = plan.candles
        if self.progress:
            self.progress(0, self.total_candles)
        # the thinned curve for on_post_run only when a feature may take it (at 10M candles it was ~30 MB)
        self.equity = self.make_equity(plan.candles, MAX_POST_RUN_EQUITY_POINTS if self.features else 0)
        self.trade_log = self.make_trade_log(bool(self.features))  # every record only for on_post_run
        rules = run.rules()
        strategy.initialize(self.strategy_config, self.run_id, history=run.history, size=run.size,
                            symbols=plan.symbols, rules=rules.to_wire(), lookahead_check=run.lookahead_check)
        ledger = Ledger(plan.symbols, rules, strategy.name)
        self.state.ledger = ledger
        self.timings["setup_s"] = time.perf_counter() - self.started
        # One batch of lookahead: batch k+1 is read, encoded and sent before the answer to batch k is read,
        # so the plugin works on k+1 while the host books k (the SDK's mirror makes this safe).
        stream = iter(batches(source, plan, specs, run.batch_size))
        with collector_paused():
            ahead = self._send(strategy, next(stream, None))
            while ahead is not None:
                batch, wire, call = ahead
                ahead = self._send(strategy, next(stream, None))
                if self.features:
                    self.features.candles(batch, wire)
                try:
                    result = strategy.finish_batch(call)
                except PluginError as exc:
                    if exc.at is not None and 0 <= exc.at < len(batch):
                        where = plan.symbols[int(batch.symbol[exc.at])], int(batch.timestamp[exc.at])
                        raise exc.located(*where) from None
                    raise
                if result.lookahead_at is not None:
                    self._lookahead_warning(strategy.name, batch, result.lookahead_at)
                self.state.watch_closes(batch)
                chart.add_batch(batch.symbol, batch.timestamp, batch.open, batch.high, batch.low, batch.close,
                                batch.indicators)
                self.equity.add(*ledger.apply(batch, result))
                self.state.candles += len(batch)
                closed = ledger.take_trades()
                if closed:
                    self.trade_log.add(closed)
                    if self.features:
                        self.features.trades([t._asdict() for t in closed])
                if self.progress:
                    self.progress(len(batch), self.total_candles)
        self.timings["loop_s"] = time.perf_counter() - self.started - self.timings["setup_s"]

    def _open_data(self) -> tuple[CandleSource, StreamPlan]:
        run = self.run
        source = open_candles(self._path(run.candles), timestamp_unit=run.timestamp_unit)
        alerts = flat_alerts(load_alerts(self._path(run.alerts), timestamp_unit=run.timestamp_unit)) \
            if run.alerts else []
        return source, plan_stream(source, alerts)

    @staticmethod
    def _send(strategy: StrategyProxy, batch: CandleBatch | None
              ) -> tuple[CandleBatch, dict[str, Any], BatchCall] | None:
        if batch is None:
            return None
        wire = batch.to_wire()
        return batch, wire, strategy.send_batch(batch, wire)

    def _lookahead_warning(self, plugin: str, batch: CandleBatch, at: int) -> None:
        if self.state.warnings.has(WarningCode.LOOKAHEAD_SUSPECTED):
            return  # the first finding names the candle; one warning a run
        symbol = batch.symbols[int(batch.symbol[at])]
        when = int(batch.timestamp[at])
        self.state.warnings.add(RunWarning(WarningCode.LOOKAHEAD_SUSPECTED.value, plugin, {
            "symbol": symbol, "timestamp": when,
            "message": f"on_batch decided differently at {symbol} {_iso(when)} when the candles after it were "
                       "cut from its batch: the strategy seems to read later candles than the one it signals on",
            "hint": "check for shift(-1), centred windows or batch-wide statistics in on_batch "
                    "(run key lookahead_check = false turns the check off)",
        }))

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    def book_warnings(self) -> None:
        ledger = self.state.ledger
        if ledger is not None and ledger.book.liquidated:
            at = ledger.book.liquidated_at
            self.state.warnings.add(RunWarning(WarningCode.LIQUIDATED.value, self.run.strategy, {
                "timestamp": at,
                "message": "equity reached zero: every position was closed at its last close and no entry "
                           "was taken after",
                "hint": "lower `size` or `leverage`, or protect positions with stop_loss",
            }))

    # -- results --------------------------------------------------------------------------------

    def post_run(self, summary: dict[str, Any], trades: list[TradeRecord],
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
                self.state.warnings.add(RunWarning.of_error(WarningCode.TEARDOWN_FAILED.value, failure))


def run_backtest(
    run: RunConfig,
    *,
    registry: Registry,
    out_dir: Path,
    run_id: str,
    base_dir: Path | None = None,
    progress: Progress | None = None,
    spawner: Spawner | None = None,
    hooks: RunHooks | None = None,
) -> RunOutcome:
    """Run one backtest and write DIR/runs/<run_id>/. Never raises for a plugin's or the data's fault.
    Its plugins start cold unless a `spawner` (a batch worker's warm one) says otherwise. `hooks`:
    instrumentation and test faults (executor/runhooks.py); none in production."""
    started = time.time()
    hooks = hooks or RunHooks()
    writer = RunWriter(out_dir, run_id, before_publish=hooks.before_publish)
    writer.prepare()
    metrics = MetricsAccumulator(initial_capital=run.initial_capital)

    def equity_writer(expected_rows: int, sample_points: int) -> EquityWriter:
        return EquityWriter(writer.equity_path, metrics, expected_rows=expected_rows, sample_points=sample_points)

    def trade_log(keep_records: bool) -> TradeLog:
        return TradeLog(writer.trades_path, keep_records=keep_records)

    job = _Run(run, registry, run_id, base_dir, progress, equity_writer, trade_log, spawner, hooks)
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
    job.book_warnings()
    if job.equity is None:
        job.equity = equity_writer(0, 0)
    equity_sample = job.equity.finish()
    if job.trade_log is None:
        job.trade_log = trade_log(False)
    if job.state.ledger is not None:  # closed in a batch that failed half-way: kept, as before
        job.trade_log.add(job.state.ledger.take_trades())
    trade_metrics = job.trade_log.finish()
    book = job.state.ledger.book if job.state.ledger is not None else None
    plan = job.state.plan
    summary: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "strategy": run.strategy,
        "config": job.strategy_config,
        "error": None if error is None else error.to_dict(),
        "metrics": metrics.finish(trade_metrics, buy_and_hold_return_pct=job.state.buy_and_hold_pct()),
        "plugin_metrics": {},
        "ignored_signals": book.ignored if book else 0,
        "rejected_signals": book.rejected if book else 0,
        "rejected_reasons": dict(book.rejected_reasons) if book else {},
        "expired_orders": book.expired if book else 0,
        "unmatched_alerts": plan.unmatched_alerts if plan else 0,
        "candles": job.state.candles,
        "symbols": plan.symbols if plan else [],
        "symbol_from_file_stem": job.state.symbol_from_file_stem,
        "timestamp_unit": job.state.timestamp_unit,
        "features": [f.name for f in job.run.sorted_features()],
        "run_config": job.run.to_user_dict(),
        "indicators": job._indicator_specs(),  # declared (plugin.json) + the run's: what the run page draws
        "warnings": [],
        "started_at": started,
        "duration_s": 0.0,
        "plughost_version": __version__,
    }
    try:  # features get on_post_run on failed runs too (results.status says so), errors only recorded then
        job.post_run(summary, job.trade_log.records, equity_sample, record_only=error is not None)
    except PlughostError as exc:
        error = exc
        summary["status"], summary["error"] = "failed", exc.to_dict()
    summary["plugin_metrics"] = job.features.plugin_metrics
    summary["plugins"] = job.plugin_report()
    job.close_all()
    summary["warnings"] = job.state.warnings.to_list()  # after close_all: a teardown failure is one
    summary["duration_s"] = round(time.time() - started, 4)
    summary["timings"] = {k: round(v, 4) for k, v in job.timings.items()}
    if job.timings.get("loop_s"):
        summary["timings"]["candles_per_s"] = round(job.state.candles / job.timings["loop_s"])
    chart = job.state.chart.finish() if job.state.chart is not None and error is None else []
    run_dir = writer.write(summary, None, job.features.artifacts, chart)
    return RunOutcome(run_id, summary["status"], summary, error, run_dir)
