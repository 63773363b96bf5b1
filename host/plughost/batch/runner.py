"""Run a batch crash-safely: dispatch runs to an engine, retry the retryable, quarantine plugins that
cannot start, journal every outcome after its files are in place, and resume after a kill.

    result = run_batch(batch, out_dir, engine_name="local", workers=2, resume=True, registry=registry)

Order of a run's commit: the host commits `running` (with the dispatch time), the worker writes
DIR/runs/<id>/ (temp folder + rename), then the host commits the finished row. The rename is the commit:
a host killed between the rename and the row leaves a published folder that resume adopts (records from
its summary.json) and never runs again. A row that says finished but whose files are missing or
unreadable (a torn write) is redone.

One module of ~450 lines, on purpose: the dispatch loop, the retry and quarantine policy and the resume
scan share one journal and one order of commits, which is the thing to read here in one piece.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._version import __version__
from ..errors import DiskFull, PlughostError, PluginQuarantined, RecordFailed, RunInterrupted, error_class
from ..executor.metrics import MetricsAccumulator
from ..executor.results import RunWriter, trades_columns
from ..executor.runconfig import RunConfig
from ..plugins.registry import Registry
from ..safefile import loads_json, read_text
from .batchhooks import BatchHooks, BatchPoint
from .engine import Completion, Engine
from .job import BatchJob, JobResult
from .journal import FINISHED, BatchLock, Journal, RunRow
from .progress import BatchProgress
from .spec import BatchSpec, RunSpec

log = logging.getLogger("plughost.batch")

# Quarantine counts only failures that do not depend on the run's config: the plugin could not be started or
# did not complete its handshake (each attempt counts: the error class's `start_failure`), or died inside
# `initialize` (each run counts once: `init_crash`). A crash while running is the run's own failure: retried,
# then failed, never held against the plugin's other runs (issue 15: two crashing configs must not cost the
# configs that work).
@dataclass
class BatchResult:
    out_dir: Path
    rows: list[RunRow]
    interrupted: bool = False
    report: Path | None = None
    skipped: int = 0            # finished before this invocation (resume)
    redone: list[str] = field(default_factory=list)  # torn runs detected on resume
    elapsed_s: float = 0.0
    warm: bool = False

    @property
    def failed(self) -> list[RunRow]:
        return [r for r in self.rows if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or any(r.status not in FINISHED for r in self.rows) else 0


def run_files_ok(out_dir: Path, row: RunRow) -> bool:
    """Are a finished run's files there, whole and its own?"""
    run_dir = out_dir / "runs" / row.id
    try:
        summary = loads_json(read_text(run_dir / "summary.json"))
        if summary.get("run_id") != row.id or summary.get("status") != row.status:
            return False
        pq.read_metadata(run_dir / "trades.parquet")
        pq.read_metadata(run_dir / "equity.parquet")
    except (OSError, ValueError, json.JSONDecodeError, Exception):
        return False
    return True


def published_summary(out_dir: Path, row: RunRow, run: RunConfig) -> dict[str, Any] | None:
    """The summary of a whole, published run folder that is `run`'s result, else None.

    Whole: summary.json parses (it is written last, before the rename) and both Parquet files read. This
    run's: same id and the same run config (timeouts and sandbox aside), so a folder left for other content
    under a reused id is never taken for this run's result."""
    run_dir = out_dir / "runs" / row.id
    try:
        summary = loads_json(read_text(run_dir / "summary.json"))
        pq.read_metadata(run_dir / "trades.parquet")
        pq.read_metadata(run_dir / "equity.parquet")
    except Exception:  # unreadable in any way: torn, not adoptable
        return None
    if not isinstance(summary, dict) or summary.get("run_id") != row.id or summary.get("status") not in FINISHED:
        return None
    recorded = summary.get("run_config")
    if not isinstance(recorded, dict) or _identity(recorded) != _identity(run.to_record_dict()):
        return None
    return summary


def _identity(run_config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run_config.items() if k not in ("id", "start_timeout", "call_timeout", "sandbox")}


def write_failed_run(out_dir: Path, spec: RunSpec, error: PlughostError | dict[str, Any]) -> Path:
    """A failed run's folder written by the host (quarantined, or its worker died): same shape as any run."""
    run = spec.run
    summary: dict[str, Any] = {
        "run_id": spec.id, "status": "failed", "strategy": run.strategy, "config": run.config,
        "error": error.to_dict() if isinstance(error, PlughostError) else error,
        "metrics": MetricsAccumulator(initial_capital=run.initial_capital).finish(
            trades_columns([]), buy_and_hold_return_pct=None),
        "plugin_metrics": {}, "ignored_signals": 0, "rejected_signals": 0, "unmatched_alerts": 0, "candles": 0,
        "symbols": [], "features": [f.name for f in run.sorted_features()], "run_config": run.to_record_dict(),
        "warnings": [], "started_at": time.time(), "duration_s": 0.0, "plughost_version": __version__,
        "plugins": {},
    }
    writer = RunWriter(out_dir, spec.id)
    writer.prepare()
    pq.write_table(pa.table({"timestamp": pa.array([], pa.int64()), "equity": pa.array([], pa.float64())}),
                   writer.equity_path)
    return writer.write(summary, [], {})


def _to_retry(summary: dict[str, Any], row: RunRow, retryable: frozenset[str], max_retries: int) -> bool:
    """A published failed attempt that the runner would have retried: retry it rather than adopt it."""
    error: dict[str, Any] = summary["error"] if isinstance(summary.get("error"), dict) else {}
    return summary["status"] == "failed" and error.get("code") in retryable and row.attempts + 1 <= max_retries


def _adopted_result(run_id: str, attempt: int, summary: dict[str, Any]) -> JobResult:
    """The result of a run found published by a host that died before recording it."""
    return JobResult(run_id, attempt, str(summary["status"]), error=summary.get("error"),
                     metrics=summary.get("metrics"), plugin_metrics=summary.get("plugin_metrics"),
                     started_at=summary.get("started_at"), duration_s=summary.get("duration_s"), worker="adopted")


def _clean_temp_folders(out_dir: Path) -> None:
    runs = out_dir / "runs"
    if not runs.is_dir():
        return
    for child in runs.iterdir():
        if child.name.startswith((".tmp-", ".old-")) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)


class _Interrupt:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum

    def __enter__(self) -> _Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handler, no Ctrl-C handling
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class BatchRunner:
    def __init__(self, batch: BatchSpec, out_dir: Path, engine: Engine, journal: Journal,
                 progress: BatchProgress, hooks: BatchHooks) -> None:
        self.batch = batch
        self.out_dir = out_dir
        self.engine = engine
        self.journal = journal
        self.progress = progress
        self.hooks = hooks
        self.options = batch.options
        self.specs = batch.by_id()
        self.crash_streak: dict[str, int] = {}
        self.quarantined: set[str] = set()
        self.disk_full: DiskFull | None = None
        self.worker_of: dict[str, str] = {}  # run id -> the worker label its latest attempt went to

    # -- outcomes -------------------------------------------------------------------------------

    def _plugins_of(self, spec: RunSpec) -> list[str]:
        return [spec.run.strategy, *(f.name for f in spec.run.features)]

    def _count_failure(self, spec: RunSpec, result: JobResult, code: str | None, plugin: str | None,
                       final: bool) -> None:
        """The quarantine streak (see the policy above). A success, or a failure after a plugin started, resets
        it."""
        if result.status == "ok":
            for name in self._plugins_of(spec):
                self.crash_streak[name] = 0
            return
        if not plugin:
            return
        error: dict[str, Any] = result.error if isinstance(result.error, dict) else {}
        policy = error_class(code)
        at_start = policy is not None and policy.start_failure
        in_init = policy is not None and policy.init_crash and error.get("hook") == "initialize"
        if not (at_start or (in_init and final)):
            if not in_init:  # it started and answered initialize: it can start
                self.crash_streak[plugin] = 0
            return
        self.crash_streak[plugin] = self.crash_streak.get(plugin, 0) + 1
        if self.options.quarantine_after and self.crash_streak[plugin] >= self.options.quarantine_after \
                and plugin not in self.quarantined:
            self.quarantined.add(plugin)
            self.progress.note(f"plugin '{plugin}' failed to start {self.crash_streak[plugin]} times in a row: "
                               "quarantined, its remaining runs fail without starting it")

    def _on_result(self, job: BatchJob, result: JobResult, queue: deque[str]) -> None:
        spec = self.specs[job.run_id]
        attempt = job.attempt
        error = result.error or None
        code = result.code
        plugin = error.get("plugin") if isinstance(error, dict) else None
        if code == DiskFull.code:  # nothing was published: the run stays to do, the batch stops (resume later)
            self.journal.mark(spec.id, "pending", error)
            if self.disk_full is None:
                info: dict[str, Any] = error if isinstance(error, dict) else {}
                self.disk_full = DiskFull(str(info.get("message") or "disk full"),
                                          folder=str(info.get("folder") or self.out_dir / "runs"))
                self.progress.note(f"{spec.id}: no space left ({self.disk_full.folder}); finishing the runs in "
                                   "flight, starting no more")
            return
        retry = (result.status != "ok" and code in self.options.retryable
                 and attempt <= self.options.max_retries)
        self._count_failure(spec, result, code, plugin, final=not retry)
        retry = retry and not (plugin and plugin in self.quarantined)
        status = "retrying" if retry else result.status
        if not retry and isinstance(error, dict) and not (self.out_dir / "runs" / spec.id / "summary.json").exists():
            write_failed_run(self.out_dir, spec, error)  # the worker could write nothing: same shape as any run
        self.journal.record_attempt(replace(result, run_id=spec.id, attempt=attempt), final_status=status)
        self.hooks.reached(BatchPoint.AFTER_JOURNAL, spec.id)
        if retry:
            self.progress.note(f"retrying {spec.id} ({code}, attempt {attempt} of {self.options.max_retries + 1})")
            queue.appendleft(spec.id)
        else:
            self.progress.finished(spec.id, status, code)

    def _on_lost(self, job: BatchJob, lost: PlughostError, queue: deque[str]) -> None:
        spec = self.specs[job.run_id]
        attempt = job.attempt
        retry = lost.code in self.options.retryable and attempt <= self.options.max_retries
        if not retry:
            write_failed_run(self.out_dir, spec, lost)
        result = JobResult(spec.id, attempt, "failed", error=lost.to_dict(), worker=self.worker_of.get(spec.id))
        self.journal.record_attempt(result, final_status="retrying" if retry else "failed")
        if retry:
            self.progress.note(f"retrying {spec.id} ({lost.code}, attempt {attempt} of {self.options.max_retries + 1})")
            queue.appendleft(spec.id)
        else:
            self.progress.finished(spec.id, "failed", lost.code)

    def _quarantine(self, spec: RunSpec) -> bool:
        bad = [p for p in self._plugins_of(spec) if p in self.quarantined]
        if not bad:
            return False
        err = PluginQuarantined(
            f"{spec.id} was not run: plugin '{bad[0]}' failed to start {self.crash_streak.get(bad[0], 0)} times in "
            "a row in this batch and is quarantined", plugin=bad[0],
            hint=f"fix the plugin, then `plughost run --batch {self.batch.path} --resume` does not rerun finished "
                 "runs; delete this run's journal row or rerun the batch without --resume")
        write_failed_run(self.out_dir, spec, err)
        row = self.journal.get(spec.id)
        self.journal.record_attempt(JobResult(spec.id, row.attempts if row else 0, "failed", error=err.to_dict()),
                                    final_status="failed")
        self.progress.finished(spec.id, "failed", err.code)
        return True

    # -- the loop -------------------------------------------------------------------------------

    def run(self, todo: list[str]) -> bool:
        """Run `todo` to the end; returns True when interrupted."""
        queue: deque[str] = deque(todo)
        with _Interrupt() as interrupt:
            while (queue or self.engine.in_flight()) and interrupt.signum is None:
                while queue and self.engine.free_slots() and interrupt.signum is None and self.disk_full is None:
                    run_id = queue.popleft()
                    spec = self.specs[run_id]
                    if self._quarantine(spec):
                        continue
                    row = self.journal.get(run_id)
                    attempt = (row.attempts if row else 0) + 1
                    self.hooks.reached(BatchPoint.BEFORE_DISPATCH, run_id)
                    job = BatchJob(run_id, spec.run.to_user_dict(), str(self.batch.base_dir), str(self.out_dir),
                                   attempt)
                    # `running` (with its dispatch time) is committed before any worker can publish the run:
                    # a host killed after the rename finds the row in flight and adopts the folder on resume.
                    self.journal.mark_running(run_id, "")
                    worker = self.worker_of[run_id] = self.engine.submit(job)
                    self.journal.set_worker(run_id, worker)
                    self.progress.started(run_id)
                if self.disk_full is not None and not queue and not self.engine.in_flight():
                    break
                if self.disk_full is not None:
                    queue.clear()
                for done in self.engine.poll(0.1):
                    self._complete(done, queue)
            if interrupt.signum is not None:
                self._interrupt(interrupt.signum)
                return True
        return False

    def _complete(self, done: Completion, queue: deque[str]) -> None:
        try:
            self.hooks.reached(BatchPoint.AFTER_FILES, done.job.run_id)
            if done.result is not None:
                self._on_result(done.job, done.result, queue)
            else:
                assert done.lost is not None
                self._on_lost(done.job, done.lost, queue)
        except DiskFull:
            raise  # the journal cannot be written: stop (it is intact: SQLite rolled the row back)
        except Exception as exc:  # recording one run must never take the batch down: that run fails
            self._record_failed(done.job, exc)

    def _record_failed(self, job: BatchJob, exc: Exception) -> None:
        run_id = job.run_id
        log.exception("recording %s failed", run_id)
        err = RecordFailed(f"{run_id}: its result could not be recorded: {type(exc).__name__}: {exc}",
                           hint="this is a plughost bug; please report it with the run's summary.json")
        try:
            with contextlib.suppress(Exception):
                write_failed_run(self.out_dir, self.specs[run_id], err)
            self.journal.record_attempt(JobResult(run_id, job.attempt, "failed", error=err.to_dict()),
                                        final_status="failed")
        except DiskFull:
            raise
        except Exception:
            log.exception("could not record the failure of %s either", run_id)
        self.progress.finished(run_id, "failed", err.code)

    def _interrupt(self, signum: int) -> None:
        name = signal.Signals(signum).name
        self.progress.note(f"{name}: stopping; in-flight runs are marked interrupted (resume with --resume)")
        flying = self.engine.in_flight()
        self.engine.stop(interrupt=True)
        for job in flying:
            err = RunInterrupted(f"{job.run_id} was interrupted by {name} while running",
                                 hint="run the batch again with --resume to finish it")
            self.journal.mark(job.run_id, "interrupted", err.to_dict())


def run_batch(
    batch: BatchSpec,
    out_dir: Path,
    *,
    registry: Registry,
    engine_name: str = "local",
    workers: int | None = None,
    resume: bool = False,
    address: str | None = None,
    progress: BatchProgress | None = None,
    report: bool = True,
    hooks: BatchHooks | None = None,
) -> BatchResult:
    """Run (or resume) a batch into `out_dir`. Raises `BatchLocked` when another host holds the folder.
    `hooks`: instrumentation and test faults (batch/batchhooks.py); none in production."""
    hooks = hooks or BatchHooks()
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = BatchLock(out_dir)
    lock.acquire()
    journal = Journal.in_dir(out_dir)
    progress = progress or BatchProgress(enabled=False)
    try:
        specs = batch.runs
        journal.register([(s.id, s.index, s.origin, s.spec) for s in specs], fresh=not resume,
                         params={s.id: s.params for s in specs if s.params})
        journal.set_meta(batch_file=str(batch.path), base_dir=str(batch.base_dir), plughost_version=__version__,
                         engine=engine_name, updated_at=time.time())
        _clean_temp_folders(out_dir)
        redone: list[str] = []
        skipped = 0
        todo: list[str] = []
        adopted: list[str] = []
        by_id = batch.by_id()
        for row in journal.rows([s.id for s in specs]):
            if row.status in FINISHED:
                if run_files_ok(out_dir, row):
                    skipped += 1
                    continue
                redone.append(row.id)
                journal.mark(row.id, "pending")
            elif resume:
                summary = published_summary(out_dir, row, by_id[row.id].run)
                if summary is not None and not _to_retry(summary, row, batch.options.retryable,
                                                         batch.options.max_retries):
                    # the rename is the commit: adopt, never run (and rewrite) it again
                    journal.record_attempt(_adopted_result(row.id, row.attempts + 1, summary),
                                           final_status=summary["status"])
                    adopted.append(row.id)
                    skipped += 1
                    continue
            todo.append(row.id)
        for run_id in adopted:
            progress.note(f"{run_id}: published before the host stopped; adopted into the journal")
        for run_id in redone:
            progress.note(f"{run_id}: the journal says finished but its files are missing or torn; running it again")
        n_workers = max(1, workers or os.cpu_count() or 1)
        n_workers = min(n_workers, max(1, len(todo)))
        engine: Engine
        if engine_name == "ray":
            from .ray_engine import RayEngine

            engine = RayEngine(n_workers, roots=registry.roots, out_dir=out_dir, warm=batch.options.warm_starts,
                               address=address)
        else:
            from .local import LocalEngine

            engine = LocalEngine(n_workers, roots=registry.roots, out_dir=out_dir.resolve(),
                                 warm=batch.options.warm_starts, worker_command=hooks.worker_command)
        interrupted = False
        warm = False
        runner: BatchRunner | None = None
        progress.begin(total=len(specs), done=skipped, failed=sum(
            1 for r in journal.rows([s.id for s in specs]) if r.status == "failed"))
        try:
            if todo:
                engine.start()
                warm = engine.warm_active
                runner = BatchRunner(batch, out_dir, engine, journal, progress, hooks)
                interrupted = runner.run(todo)
        finally:
            if not interrupted:
                engine.stop()
            progress.end()
            _clean_temp_folders(out_dir)  # a killed attempt's or a full disk's leftovers give their space back
        if runner is not None and runner.disk_full is not None:
            raise runner.disk_full
        rows = journal.rows([s.id for s in specs])
        result = BatchResult(out_dir, rows, interrupted=interrupted, skipped=skipped, redone=redone,
                             elapsed_s=time.monotonic() - started, warm=warm)
        if report:
            from ..reports import write_reports  # the presentation layer, imported late: batch stays below it

            try:
                result.report = write_reports(out_dir, base_dir=batch.base_dir, journal=journal, only_stale=True,
                                              title=f"plughost batch: {batch.path.name}")
            except (PlughostError, OSError, ValueError, pa.ArrowException) as exc:  # the runs are safe; say so
                progress.note(f"the HTML report was not written: {exc}; retry with `plughost report {out_dir}`")
        return result
    finally:
        journal.close()
        lock.release()
