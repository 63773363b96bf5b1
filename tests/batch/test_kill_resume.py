"""SIGKILL a real `plughost run --batch` host at several points, resume, and compare with an uninterrupted
batch: every run exactly once, finished runs untouched, identical results, no process left behind."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from plughost.batch import Journal, load_batch

from .conftest import cli, load_results, wait_gone, write_batch

N_RUNS = 6


def batch_file(tmp_path: Path, data_dir: Path) -> Path:
    runs = [{"strategy": "toy", "candles": str(data_dir / f"c{i % 4}.parquet"),
             "config": {"n": 5 + i, "delay_ms": 250}, "features": ["tally"]} for i in range(N_RUNS)]
    return write_batch(tmp_path / "batch.json", {"runs": runs})


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("reference")
    out = tmp / "out"
    proc = cli(batch_file(tmp, data_dir), out, "--workers", "2")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return load_results(out)


def finished_before(out: Path) -> dict[str, int]:
    """run id -> summary.json mtime, for the runs the journal says finished."""
    journal = Journal.in_dir(out)
    try:
        rows = journal.rows()
    finally:
        journal.close()
    files = {r.id: out / "runs" / r.id / "summary.json" for r in rows if r.status in ("ok", "failed")}
    return {run_id: f.stat().st_mtime_ns for run_id, f in files.items() if f.exists()}


def published_before(out: Path) -> dict[str, int]:
    """run id -> summary.json mtime for every run folder published whole (renamed into place), whether or not
    the journal recorded it: the rename is the commit, so `--resume` must keep every one of them."""
    kept: dict[str, int] = {}
    runs = out / "runs"
    for run_dir in runs.iterdir() if runs.is_dir() else []:
        summary = run_dir / "summary.json"
        if run_dir.name.startswith(".") or not summary.is_file():
            continue
        try:
            if json.loads(summary.read_text()).get("status") in ("ok", "failed"):
                kept[run_dir.name] = summary.stat().st_mtime_ns
        except ValueError:
            continue
    return kept


def resume_and_check(batch: Path, out: Path, reference: dict[str, Any], kept: dict[str, int],
                     register: Callable[[Popen[str]], None]) -> None:
    tag = uuid.uuid4().hex
    proc = cli(batch, out, "--workers", "2", "--resume", "--json", tag=tag)
    register(proc)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    rows = json.loads(stdout)
    assert len(rows) == N_RUNS and {r["status"] for r in rows} == {"ok"}
    assert load_results(out) == reference
    for run_id, mtime in kept.items():  # finished before the kill: not run again
        assert (out / "runs" / run_id / "summary.json").stat().st_mtime_ns == mtime, run_id
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(reference)  # no temp folder left
    journal = Journal.in_dir(out)
    try:  # exactly one finished attempt per run (nothing ran twice after it finished)
        for row in journal.rows():
            assert [a["status"] for a in journal.attempts(row.id)] == ["ok"], row.id
    finally:
        journal.close()
    assert not wait_gone(tag)


@pytest.mark.parametrize("fault", ["before-dispatch:3", "after-files:2", "after-journal:2", "mid-write:RUN2"])
def test_sigkill_at_a_point_then_resume(tmp_path: Path, data_dir: Path, reference: dict[str, Any], fault: str,
                                        kill_tree: Callable[[Popen[str]], None]) -> None:
    batch = batch_file(tmp_path, data_dir)
    out = tmp_path / "out"
    if fault.endswith("RUN2"):
        fault = f"mid-write:{load_batch(batch).runs[2].id}"
    tag = uuid.uuid4().hex
    proc = cli(batch, out, "--workers", "2", fault=fault, tag=tag)
    kill_tree(proc)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    assert not wait_gone(tag), "processes of the killed host survived it"
    kept = published_before(out)
    assert set(finished_before(out)) <= set(kept) and len(kept) < N_RUNS
    if fault.startswith("after-files"):  # published, not journalled: resume adopts it instead of rerunning it
        assert len(kept) > len(finished_before(out))
    resume_and_check(batch, out, reference, kept, kill_tree)


@pytest.mark.slow
def test_sigkill_at_random_moments_until_done(tmp_path: Path, data_dir: Path, reference: dict[str, Any],
                                              kill_tree: Callable[[Popen[str]], None]) -> None:
    batch = batch_file(tmp_path, data_dir)
    out = tmp_path / "out"
    rng = random.Random(int(os.environ.get("PLUGHOST_KILL_SEED", "15")))
    kept: dict[str, int] = {}
    for round_ in range(8):
        tag = uuid.uuid4().hex
        proc = cli(batch, out, "--workers", "2", "--resume", tag=tag)
        kill_tree(proc)
        time.sleep(rng.uniform(0.2, 3.0))
        os.killpg(proc.pid, signal.SIGKILL) if round_ % 3 == 0 else proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert not wait_gone(tag)
        now = published_before(out)
        for run_id, mtime in kept.items():  # a published result is never rewritten by a later resume
            assert now.get(run_id) == mtime, run_id
        kept = now
    resume_and_check(batch, out, reference, kept, kill_tree)


def test_ctrl_c_marks_in_flight_runs_interrupted(tmp_path: Path, data_dir: Path, reference: dict[str, Any],
                                                  kill_tree: Callable[[Popen[str]], None]) -> None:
    batch = batch_file(tmp_path, data_dir)
    out = tmp_path / "out"
    tag = uuid.uuid4().hex
    proc = cli(batch, out, "--workers", "2", tag=tag)
    kill_tree(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until runs are in flight
        time.sleep(0.1)
        journal_path = out / ".plughost" / "journal.sqlite"
        if journal_path.exists():
            journal = Journal.in_dir(out, readonly=True)
            try:
                if any(r.status == "running" for r in journal.rows()):
                    break
            except sqlite3.OperationalError:
                continue  # the host has created the file but not yet its tables
            finally:
                journal.close()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not wait_gone(tag)
    journal = Journal.in_dir(out)
    try:
        statuses = [r.status for r in journal.rows()]
    finally:
        journal.close()
    assert "interrupted" in statuses and "running" not in statuses
    resume_and_check(batch, out, reference, finished_before(out), kill_tree)
