"""The batch journal: SQLite in WAL mode in the output folder, one row per run, plus a lock file.

    DIR/.plughost/journal.sqlite     runs(id, idx, spec, status, attempts, error, metrics, timings, ...)
                                     attempts(run_id, attempt, status, code, error, started_at, duration_s)
    DIR/.plughost/lock               flock()ed by the host running the batch (BATCH_LOCKED for a second one)

Status of a run: `pending` (not run yet, or to be redone), `retrying` (an attempt failed and another is
due), `running` (in flight; what a killed host leaves behind, treated like `pending` on resume),
`interrupted` (stopped by Ctrl-C, resumable), `ok` and `failed` (finished). A finished row is committed
only after the run's files were renamed into place, so `ok`/`failed` in the journal means the files
exist, unless the host died in between; `reconcile` checks exactly that on resume.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BatchLocked, DiskFull, JournalCorrupt
from ..executor.runconfig import redact_env
from ..safefile import dumps, loads_json
from .job import JobResult

STATE_DIR = ".plughost"
JOURNAL_NAME = "journal.sqlite"
LOCK_NAME = "lock"
FINISHED = ("ok", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    origin TEXT NOT NULL,
    spec TEXT NOT NULL,
    strategy TEXT NOT NULL,
    candles TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_code TEXT,
    metrics TEXT,
    plugin_metrics TEXT,
    started_at REAL,
    finished_at REAL,
    duration_s REAL,
    start_cost_s REAL,
    spawn_s REAL,
    worker TEXT,
    params TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    code TEXT,
    error TEXT,
    started_at REAL,
    duration_s REAL,
    worker TEXT,
    PRIMARY KEY (run_id, attempt)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class RunRow:
    id: str
    idx: int
    origin: str
    spec: dict[str, Any]
    strategy: str
    candles: str
    status: str
    attempts: int
    error: dict[str, Any] | None
    error_code: str | None
    metrics: dict[str, Any] | None
    plugin_metrics: dict[str, Any] | None
    started_at: float | None
    finished_at: float | None
    duration_s: float | None
    start_cost_s: float | None
    spawn_s: float | None
    worker: str | None
    params: dict[str, Any] | None = None  # a sweep's grid point; None for a listed run

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.id, "index": self.idx, "origin": self.origin, "status": self.status,
            "strategy": self.strategy, "candles": self.candles, "attempts": self.attempts,
            "error": self.error, "metrics": self.metrics, "plugin_metrics": self.plugin_metrics,
            "config": self.spec.get("config"), "started_at": self.started_at, "finished_at": self.finished_at,
            "duration_s": self.duration_s, "start_cost_s": self.start_cost_s, "worker": self.worker,
            "params": self.params or {},
        }


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return loads_json(text)
    except ValueError:  # a damaged row: show it as missing rather than fail the whole listing
        return None


def _dumps(value: Any) -> str | None:
    return None if value is None else dumps(value)  # NaN/inf -> null: a plugin metric may be NaN


class BatchLock:
    """An exclusive `flock` on DIR/.plughost/lock, held for the host's lifetime (the kernel drops it
    when the process dies, SIGKILL included, so a stale lock never blocks a resume)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / STATE_DIR / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 64, 0).decode().strip()
            os.close(fd)
            raise BatchLocked(
                f"the output folder {self.path.parent.parent} is in use by another plughost batch"
                + (f" (pid {holder})" if holder else ""),
                hint="wait for it to finish, stop it, or pass another --out",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
            self.fd = None


class Journal:
    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it a database at all
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(path, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")  # a committed row survives power loss too
                self.db.executescript(_SCHEMA)
                columns = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}
                if "params" not in columns:  # a journal written before grid points were recorded
                    self.db.execute("ALTER TABLE runs ADD COLUMN params TEXT")
                self.db.execute("SELECT count(*) FROM runs").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.corrupt(exc) from None
        self.db.row_factory = sqlite3.Row

    def corrupt(self, exc: BaseException) -> JournalCorrupt:
        return JournalCorrupt(
            f"the batch journal {self.path} cannot be read: {exc}",
            hint=f"move it away (`mv {self.path} {self.path}.broken`) and run the batch with --resume: run "
            "folders already published whole are adopted, only the others run again")

    @classmethod
    def in_dir(cls, out_dir: Path, *, readonly: bool = False) -> Journal:
        return cls(out_dir / STATE_DIR / JOURNAL_NAME, readonly=readonly)

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "full" in str(exc) or "disk I/O" in str(exc):  # SQLITE_FULL: the row is not committed
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise DiskFull(f"no space left to write the batch journal {self.path} ({exc})",
                               folder=str(self.path.parent)) from None
            raise

    def close(self) -> None:
        self.db.close()

    # -- rows -----------------------------------------------------------------------------------

    def _row(self, r: sqlite3.Row) -> RunRow:
        return RunRow(
            id=r["id"], idx=r["idx"], origin=r["origin"], spec=_loads(r["spec"]) or {}, strategy=r["strategy"],
            candles=r["candles"], status=r["status"], attempts=r["attempts"], error=_loads(r["error"]),
            error_code=r["error_code"], metrics=_loads(r["metrics"]), plugin_metrics=_loads(r["plugin_metrics"]),
            started_at=r["started_at"], finished_at=r["finished_at"], duration_s=r["duration_s"],
            start_cost_s=r["start_cost_s"], spawn_s=r["spawn_s"], worker=r["worker"],
            params=_loads(r["params"]) if "params" in r.keys() else None,  # noqa: SIM118 (sqlite3.Row)
        )

    def rows(self, ids: list[str] | None = None) -> list[RunRow]:
        try:
            rows = [self._row(r) for r in self.db.execute("SELECT * FROM runs ORDER BY idx, id")]
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):  # a reader racing the batch that is creating it: no rows yet
                raise self.corrupt(exc) from None
            rows = []
        except sqlite3.DatabaseError as exc:
            raise self.corrupt(exc) from None
        if ids is None:
            return rows
        wanted = {i: n for n, i in enumerate(ids)}
        return sorted((r for r in rows if r.id in wanted), key=lambda r: wanted[r.id])

    def get(self, run_id: str) -> RunRow | None:
        r = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if r is None else self._row(r)

    def attempts(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {"attempt": r["attempt"], "status": r["status"], "code": r["code"], "error": _loads(r["error"]),
             "started_at": r["started_at"], "duration_s": r["duration_s"], "worker": r["worker"]}
            for r in self.db.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt", (run_id,))
        ]

    def set_meta(self, **values: Any) -> None:
        with self.tx() as db:
            for k, v in values.items():
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, json.dumps(v)))

    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.execute("SELECT key, value FROM meta")}

    def register(self, runs: list[tuple[str, int, str, dict[str, Any]]], *, fresh: bool,
                 params: dict[str, dict[str, Any]] | None = None) -> None:
        """Make sure every run has a row. `fresh` (no --resume): every run goes back to pending.
        A row whose stored spec differs from the batch's (an explicit id reused for other content) is reset.
        `params`: run id -> its sweep grid point, kept for reports."""
        with self.tx() as db:
            for run_id, idx, origin, spec in runs:
                text = dumps(redact_env(spec), sort_keys=True)  # env values may be secrets: names only
                old = db.execute("SELECT spec FROM runs WHERE id = ?", (run_id,)).fetchone()
                reset = fresh or old is None or old["spec"] != text
                if reset:
                    db.execute("DELETE FROM attempts WHERE run_id = ?", (run_id,))
                    db.execute(
                        "INSERT OR REPLACE INTO runs(id, idx, origin, spec, strategy, candles, status, attempts) "
                        "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0)",
                        (run_id, idx, origin, text, spec.get("strategy", ""), spec.get("candles", "")))
                else:
                    db.execute("UPDATE runs SET idx = ?, origin = ? WHERE id = ?", (idx, origin, run_id))
                point = (params or {}).get(run_id)
                db.execute("UPDATE runs SET params = ? WHERE id = ?", (_dumps(point) if point else None, run_id))

    def mark_running(self, run_id: str, worker: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET status = 'running', started_at = ?, worker = ? WHERE id = ?",
                       (time.time(), worker, run_id))

    def set_worker(self, run_id: str, worker: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET worker = ? WHERE id = ?", (worker, run_id))

    def record_attempt(self, result: JobResult, *, final_status: str) -> None:
        """One finished attempt. `final_status` is the run's new status: ok, failed, or retrying."""
        error, code = result.error, result.code
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO attempts(run_id, attempt, status, code, error, started_at, duration_s, worker)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (result.run_id, result.attempt, result.status, code, _dumps(error), result.started_at,
                 result.duration_s, result.worker))
            db.execute(
                "UPDATE runs SET status = ?, attempts = ?, error = ?, error_code = ?, metrics = ?, plugin_metrics = ?,"
                " finished_at = ?, duration_s = ?, start_cost_s = ?, spawn_s = ?, worker = ? WHERE id = ?",
                (final_status, result.attempt, _dumps(error), code, _dumps(result.metrics),
                 _dumps(result.plugin_metrics), time.time(), result.duration_s, result.start_cost_s, result.spawn_s,
                 result.worker, result.run_id))

    def mark(self, run_id: str, status: str, error: dict[str, Any] | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET status = ?, error = ?, error_code = ? WHERE id = ?",
                       (status, _dumps(error), error.get("code") if error else None, run_id))
