"""The local engine with real worker and plugin processes: bad runs fail alone with the right codes,
retries, quarantine, a dying worker, the lock, torn writes on resume."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from plughost.batch import BatchLocked, Journal, load_batch, run_batch
from plughost.batch.batchhooks import BatchHooks, BatchPoint
from plughost.batch.journal import BatchLock
from plughost.errors import BatchFileError
from plughost.plugins.registry import Registry

from .conftest import PLUGINS, load_results, write_batch


def registry() -> Registry:
    return Registry.discover([PLUGINS])


def good_runs(data_dir: Path) -> list[dict[str, Any]]:
    return [{"strategy": "toy", "candles": str(data_dir / f"c{i}.parquet"), "config": {"n": n},
             "features": ["tally"]} for i in range(4) for n in (5, 10, 20, 40)]


def test_sweeps_expand_with_stable_ids(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "cfg.json").write_text(json.dumps({"n": 7, "fee_bps": 2}))
    batch = write_batch(tmp_path / "b.json", {
        "batch": {"max_retries": 1},
        "defaults": {"features": ["tally"]},
        "runs": [{"strategy": "toy", "candles": str(data_dir / "c0.parquet"), "config": "cfg.json"},
                 {"id": "named", "strategy": "toy", "candles": str(data_dir / "c1.parquet")}],
        "sweeps": [{"strategy": "toy", "candles": f"{data_dir}/c*.parquet", "grid": {"n": [5, 10], "x.y": [1, 2]}}],
    })
    spec = load_batch(batch)
    assert len(spec.runs) == 2 + 4 * 4
    assert spec.runs[0].run.fee_bps == 2 and spec.runs[0].run.config == {"n": 7}
    assert spec.runs[1].id == "named"
    assert spec.runs[2].run.config == {"n": 5, "x": {"y": 1}}
    assert all(r.run.features[0].name == "tally" for r in spec.runs)
    assert spec.options.max_retries == 1
    # ids are content hashes: the same file read again (or with a different timeout) gives the same ids
    again = load_batch(batch, cli_defaults={"call_timeout": 3.0})
    assert [r.id for r in again.runs] == [r.id for r in spec.runs]
    assert len({r.id for r in spec.runs}) == len(spec.runs)
    # a value equal to its default is the same run
    same = write_batch(tmp_path / "same.json", {"runs": [
        {"strategy": "toy", "candles": str(data_dir / "c1.parquet"), "fee_bps": 0, "config": {"n": 3}},
        {"strategy": "toy", "candles": str(data_dir / "c1.parquet"), "config": {"n": 3}, "call_timeout": 9}]})
    with pytest.raises(BatchFileError, match="same run"):
        load_batch(same)


@pytest.mark.parametrize(("runs", "words"), [
    ([{"strategy": "toy", "candles": "missing.parquet"}], ["run 0", "runs[0]", "'candles'", "not found"]),
    ([{"strategy": "toy", "candles": "c.parquet"}, {"strategy": "toy", "candles": "c.parquet", "size": -1}],
     ["run 1", "size"]),
    ([{"strategy": "toy", "candles": "c.parquet", "bogus": 1}], ["run 0", "bogus"]),
    ([{"candles": "c.parquet"}], ["runs[0]", "'strategy'"]),
    ([{"strategy": "toy", "candles": "c.parquet"}] * 2, ["run 1", "run 0", "same id"]),
])
def test_batch_file_errors_name_the_run_and_key(tmp_path: Path, data_dir: Path, runs: list[dict[str, Any]],
                                                 words: list[str]) -> None:
    (tmp_path / "c.parquet").write_bytes((data_dir / "c0.parquet").read_bytes())
    with pytest.raises(BatchFileError) as info:
        load_batch(write_batch(tmp_path / "b.json", {"runs": runs}))
    for word in words:
        assert word in str(info.value), str(info.value)


def test_twenty_runs_four_bad(tmp_path: Path, data_dir: Path) -> None:
    """segfault, hang, stderr flood and raise among 20 runs: the 16 others match a clean batch exactly."""
    good = good_runs(data_dir)
    c = str(data_dir / "c0.parquet")
    bad_modes = {"segfault": 3, "hang": 7, "flood": 11, "raise": 15}
    period = {"segfault": 3, "hang": 4, "flood": 6, "raise": 7}

    def batch(modes: bool) -> dict[str, Any]:
        runs = list(good)
        for mode, at in bad_modes.items():
            runs.insert(at, {"strategy": "toy", "candles": c, "features": ["tally"], "call_timeout": 1.5,
                             "config": {"n": period[mode], "mode": mode if modes else "ok"}})
        return {"batch": {"max_retries": 1}, "runs": runs}

    bad = run_batch(load_batch(write_batch(tmp_path / "bad.json", batch(True))), tmp_path / "bad",
                    registry=registry(), workers=2)
    clean = run_batch(load_batch(write_batch(tmp_path / "clean.json", batch(False))), tmp_path / "clean",
                      registry=registry(), workers=2)
    assert bad.exit_code == 1 and clean.exit_code == 0
    by_origin = {r.origin: r for r in bad.rows}
    codes = {mode: by_origin[f"runs[{at}]"] for mode, at in bad_modes.items()}
    assert codes["segfault"].error_code == "PLUGIN_CRASHED" and codes["segfault"].attempts == 2
    assert (codes["segfault"].error or {}).get("signal") == "SIGSEGV"
    assert codes["hang"].error_code == "PLUGIN_TIMEOUT" and codes["hang"].attempts == 2
    assert codes["raise"].error_code == "PLUGIN_ERROR" and codes["raise"].attempts == 1  # deterministic: no retry
    assert codes["flood"].status == "ok"
    good_ids = [r.id for r in bad.rows if r.origin not in {f"runs[{a}]" for a in bad_modes.values()}]
    assert len(good_ids) == 16
    assert all(r.status == "ok" for r in bad.rows if r.id in good_ids)
    assert load_results(bad.out_dir, good_ids) == load_results(clean.out_dir, good_ids)
    # the flooded run's results equal its clean twin's
    twin = next(r.id for r in clean.rows if r.origin == f"runs[{bad_modes['flood']}]")
    flood = load_results(bad.out_dir, [codes["flood"].id])[codes["flood"].id]
    assert flood["trades"] == load_results(clean.out_dir, [twin])[twin]["trades"]
    summary = json.loads((bad.out_dir / "runs" / codes["segfault"].id / "summary.json").read_text())
    assert summary["error"]["code"] == "PLUGIN_CRASHED"
    attempts = Journal.in_dir(bad.out_dir).attempts(codes["hang"].id)
    assert [a["code"] for a in attempts] == ["PLUGIN_TIMEOUT", "PLUGIN_TIMEOUT"]
    html = (bad.out_dir / "report.html").read_text()
    assert "PLUGIN_CRASHED" in html and "toy raised on purpose" in html


def test_crash_once_is_retried_and_attempts_recorded(tmp_path: Path, data_dir: Path) -> None:
    marker = tmp_path / "crashed-once"
    runs = [{"strategy": "toy", "candles": str(data_dir / "c1.parquet"),
             "config": {"mode": "crash-once", "marker": str(marker)}}]
    result = run_batch(load_batch(write_batch(tmp_path / "b.json", {"runs": runs})), tmp_path / "out",
                       registry=registry(), workers=1)
    (row,) = result.rows
    assert row.status == "ok" and row.attempts == 2
    attempts = Journal.in_dir(tmp_path / "out").attempts(row.id)
    assert [(a["attempt"], a["code"]) for a in attempts] == [(1, "PLUGIN_CRASHED"), (2, None)]


def test_crashes_while_running_never_quarantine_the_plugin(tmp_path: Path, data_dir: Path) -> None:
    """A crash in on_candle depends on the run's config: each run fails on its own, the plugin is not
    quarantined (quarantine is for plugins that cannot start: tests/security/test_batch_faults.py)."""
    runs = [{"strategy": "toy", "candles": str(data_dir / "c0.parquet"), "config": {"mode": "segfault", "n": i}}
            for i in range(8)]
    runs.append({"strategy": "toy", "candles": str(data_dir / "c0.parquet"), "config": {"n": 5}})
    result = run_batch(load_batch(write_batch(tmp_path / "b.json", {
        "batch": {"max_retries": 0, "quarantine_after": 3}, "runs": runs})), tmp_path / "out",
        registry=registry(), workers=1)
    codes = [r.error_code for r in result.rows]
    assert codes == ["PLUGIN_CRASHED"] * 8 + [None]
    assert [r.attempts for r in result.rows] == [1] * 9
    summary = json.loads((tmp_path / "out" / "runs" / result.rows[-2].id / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]["code"] == "PLUGIN_CRASHED"
    assert result.rows[-1].status == "ok"


def test_a_dying_worker_fails_only_its_run_and_is_replaced(tmp_path: Path, data_dir: Path) -> None:
    runs = good_runs(data_dir)[:4]
    runs.insert(1, {"strategy": "toy", "candles": str(data_dir / "c2.parquet"), "config": {"mode": "kill-host"}})
    result = run_batch(load_batch(write_batch(tmp_path / "b.json", {"batch": {"max_retries": 1}, "runs": runs})),
                       tmp_path / "out", registry=registry(), workers=2)
    lost = result.rows[1]
    assert lost.status == "failed" and lost.error_code == "WORKER_LOST" and lost.attempts == 2
    assert [r.status for r in result.rows if r is not lost] == ["ok"] * 4
    assert (tmp_path / "out" / "runs" / lost.id / "summary.json").is_file()


def test_second_host_on_the_same_folder_refuses(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "out"
    lock = BatchLock(out)
    lock.acquire()
    try:
        batch = load_batch(write_batch(tmp_path / "b.json", {"runs": good_runs(data_dir)[:1]}))
        with pytest.raises(BatchLocked) as info:
            run_batch(batch, out, registry=registry(), workers=1)
        assert info.value.code == "BATCH_LOCKED" and str(os.getpid()) in str(info.value)
    finally:
        lock.release()


def test_resume_redoes_torn_runs_and_keeps_the_rest(tmp_path: Path, data_dir: Path) -> None:
    batch = load_batch(write_batch(tmp_path / "b.json", {"runs": good_runs(data_dir)[:5]}))
    out = tmp_path / "out"
    first = run_batch(batch, out, registry=registry(), workers=2)
    before = load_results(out)
    ids = [r.id for r in first.rows]
    mtimes = {i: (out / "runs" / i / "summary.json").stat().st_mtime_ns for i in ids}
    # journal says done, files torn
    (out / "runs" / ids[0] / "trades.parquet").write_bytes(b"PAR1 torn")
    # files present, no finished journal row (killed between rename and commit): adopted, not rerun
    Journal.in_dir(out).mark(ids[1], "running")
    # a stray temp folder from a killed write
    (out / "runs" / f".tmp-{ids[2]}-999").mkdir()
    again = run_batch(batch, out, registry=registry(), workers=2, resume=True)
    assert again.redone == [ids[0]] and again.skipped == 4
    assert [r.status for r in again.rows] == ["ok"] * 5, [r.error for r in again.rows]
    assert load_results(out) == before
    for i in ids[1:]:
        assert (out / "runs" / i / "summary.json").stat().st_mtime_ns == mtimes[i]  # untouched
    assert not any(p.name.startswith(".") for p in (out / "runs").iterdir())


def test_an_exception_while_recording_one_run_fails_only_that_run(tmp_path: Path, data_dir: Path) -> None:
    """A host bug while recording one result (injected through the batch's seam: the hook at run 1's result
    raises) must not take the batch down: that run fails with RECORD_FAILED, the others finish and the report
    is written."""
    batch = load_batch(write_batch(tmp_path / "b.json", {"runs": good_runs(data_dir)[:3]}))
    victim = batch.runs[1].id
    raised: list[str] = []

    def flaky(point: BatchPoint, run_id: str) -> None:
        if point == BatchPoint.AFTER_FILES and run_id == victim and not raised:
            raised.append(run_id)
            raise TypeError("injected: cannot encode this result")

    result = run_batch(batch, tmp_path / "out", registry=registry(), workers=1, hooks=BatchHooks(at=flaky))
    rows = {r.id: r for r in result.rows}
    assert raised == [victim]
    assert rows[victim].status == "failed" and rows[victim].error_code == "RECORD_FAILED"
    assert "injected" in (rows[victim].error or {}).get("message", "")
    assert [r.status for r in result.rows if r.id != victim] == ["ok", "ok"]
    assert result.report is not None and result.report.is_file()
