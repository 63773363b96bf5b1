"""A run's files, written whole or not at all: into a hidden temporary folder, then renamed."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from plughost_sdk.orders import TradeRecord

from ..errors import DiskFull, PlughostError, UsageError
from ..safefile import dumps, json_safe, replace_dir
from .chart import CHART_FILE, SymbolBars, write_chart
from .runconfig import redact_env
from .summary_check import summary_record

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_TIME = pa.timestamp("ms", tz="UTC")
TRADES_SCHEMA = pa.schema([
    ("symbol", pa.string()), ("side", pa.string()), ("entry_time", _TIME), ("entry_price", pa.float64()),
    ("exit_time", _TIME), ("exit_price", pa.float64()), ("size", pa.float64()), ("fees", pa.float64()),
    ("pnl", pa.float64()), ("entry_reason", pa.string()), ("exit_reason", pa.string()),
])
TRADE_COLUMNS = tuple(TRADES_SCHEMA.names)


RUN_ID_RULE = "letters, digits, '.', '_' and '-', up to 128, starting with a letter or digit"


def check_run_id(run_id: Any) -> str:
    """A run id is a folder name under OUT/runs/: one rule everywhere, so no id ever leaves --out."""
    if not isinstance(run_id, str) or not _SAFE_NAME.match(run_id):
        shown = repr(run_id) if len(repr(run_id)) <= 80 else repr(run_id)[:77] + "..."
        raise UsageError(f"run id {shown} is not allowed: a run id is a folder name under OUT/runs/",
                         hint=f"use {RUN_ID_RULE}")
    return run_id


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    text = str(exc)
    return "No space left" in text or "Disk quota exceeded" in text or "File too large" in text


def out_dir_error(out_dir: Path, exc: OSError) -> PlughostError:
    if is_disk_full(exc):
        return DiskFull(f"no space left in {out_dir}: {exc.strerror or exc}", folder=str(out_dir))
    return UsageError(f"cannot write results to {out_dir}: {exc.strerror or exc}",
                      hint="pass --out a folder you can write to (it is created when missing)")


def check_out_dir(out_dir: Path) -> None:
    """--out must be (or become) a writable folder: a usage error now, not a traceback mid-run."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder", hint="pass a folder (it is created when missing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".plughost-probe-"):
            pass
    except OSError as exc:
        raise out_dir_error(out_dir, exc) from None


def format_number(value: Any, pattern: str) -> str:
    """A metric as people read it: `pattern` applied; '-' for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    try:
        return pattern.format(value)
    except (TypeError, ValueError):
        return str(value)


def trades_columns(trades: Sequence[TradeRecord]) -> dict[str, list[Any]]:
    """Trades as columns (times as ms integers, as the protocol and the metrics take them)."""
    if not trades:
        return {name: [] for name in TRADE_COLUMNS}
    by_field = dict(zip(TradeRecord._fields, map(list, zip(*trades, strict=True)), strict=True))  # one C pass
    return {name: by_field[name] for name in TRADE_COLUMNS}


def safe_artifact_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


@contextlib.contextmanager
def disk_full_guard(out_dir: Path, run_id: str) -> Iterator[None]:
    """Around run_backtest: a full disk anywhere in writing a run (the equity spill included) becomes
    DiskFull naming the folder, and the run's temporary folder is removed so the space comes back."""
    try:
        yield
    except OSError as exc:
        RunWriter(out_dir, run_id).discard()
        if is_disk_full(exc):
            raise DiskFull(f"no space left to write run {run_id} in {out_dir / 'runs'} ({exc.strerror or exc})",
                           folder=str(out_dir / "runs")) from None
        raise


__all__ = ["RunWriter", "check_out_dir", "check_run_id", "disk_full_guard", "dumps", "format_number", "json_safe",
           "trades_columns"]


class RunWriter:
    """Builds a run's folder under a hidden temporary name, then renames it into place in one step."""

    def __init__(self, out_dir: Path, run_id: str, *, before_publish: Callable[[Path], None] | None = None) -> None:
        check_run_id(run_id)
        self.before_publish = before_publish  # a seam for instrumentation and test faults (RunHooks)
        self.runs_dir = out_dir / "runs"
        self.final = self.runs_dir / run_id
        self.tmp = self.runs_dir / f".tmp-{run_id}-{os.getpid()}"
        self.equity_path = self.tmp / "equity.parquet"
        self.trades_path = self.tmp / "trades.parquet"
        self.spill_path = self.tmp / ".equity-spill.arrow"

    def prepare(self) -> None:
        """A fresh temporary folder; leftovers of this run from a killed host are removed first."""
        prefix = f".tmp-{self.final.name}-"
        try:
            for stale in self.runs_dir.glob(prefix + "*"):
                if stale.name[len(prefix):].isdigit():  # only this run's (pid suffix), never run "<id>-x"'s
                    shutil.rmtree(stale, ignore_errors=True)
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise out_dir_error(self.runs_dir, exc) from None

    def write(
        self,
        summary: Mapping[str, Any],
        trades: Sequence[TradeRecord] | None,
        artifacts: Mapping[str, Mapping[str, str | bytes]],
        chart: Sequence[SymbolBars] = (),
    ) -> Path:
        """Complete the folder (equity.parquet is already there, and trades.parquet when `trades` is None: a
        TradeLog streamed it) and publish it. A full disk: the temporary folder is removed (its space given
        back) and DiskFull raised; nothing is published."""
        error = summary.get("error")
        message = error.get("message") if isinstance(error, Mapping) else None
        if isinstance(message, str) and is_disk_full(OSError(message)):  # e.g. the equity spill hit ENOSPC
            self.discard()
            raise DiskFull(f"no space left to write run {self.final.name} in {self.runs_dir} ({message})",
                           folder=str(self.runs_dir))
        try:
            self._complete(summary, trades, artifacts, chart)
            return self._publish()
        except OSError as exc:
            self.discard()
            if is_disk_full(exc):
                raise DiskFull(f"no space left to write run {self.final.name} in {self.runs_dir}",
                               folder=str(self.runs_dir)) from None
            raise

    def _complete(
        self,
        summary: Mapping[str, Any],
        trades: Sequence[TradeRecord] | None,
        artifacts: Mapping[str, Mapping[str, str | bytes]],
        chart: Sequence[SymbolBars],
    ) -> None:
        if trades is not None:  # None: a TradeLog streamed trades.parquet already
            pq.write_table(pa.Table.from_pydict(trades_columns(trades), schema=TRADES_SCHEMA), self.trades_path)
        if chart:
            write_chart(self.tmp / CHART_FILE, list(chart))
        for plugin, files in artifacts.items():
            folder = self.tmp / "artifacts" / plugin
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                data = content.encode() if isinstance(content, str) else bytes(content)
                (folder / name).write_bytes(data)
        # summary.json last: a reader that sees it sees a complete run.
        # Checked against the typed record (executor/summary.py): every writer of summary.json agrees.
        record = summary_record(summary)
        if isinstance(record.get("run_config"), dict):  # env values may be secrets: their names only
            record["run_config"] = redact_env(record["run_config"])
        text = dumps(record, indent=2, sort_keys=False)
        with open(self.tmp / "summary.json", "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _publish(self) -> Path:
        if self.before_publish is not None:
            self.before_publish(self.final)
        return replace_dir(self.tmp, self.final)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
