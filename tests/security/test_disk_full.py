"""A disk that fills up mid-batch: DISK_FULL naming the folder, temporary files removed, the journal intact,
exit 1; once space is free, `--resume` finishes the batch without rewriting what was published (issue 15,
item 6). Needs a small tmpfs, so root (or CAP_SYS_ADMIN); skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import plughost, write_candles, write_json


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int) -> Path:
    """A filler file that leaves about `leave` bytes free."""
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    filler = mount / "filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def temp_leftovers(out: Path) -> list[str]:
    runs = out / "runs"
    return [p.name for p in runs.iterdir() if p.name.startswith(".")] if runs.is_dir() else []


def test_disk_full_mid_batch_then_resume(tmp_path: Path, small_disk: Path, plugins: Path,
                                         home: dict[str, str]) -> None:
    candles = write_candles(tmp_path / "big.parquet", n=20_000, seed=3)
    out = small_disk / "out"
    runs = [{"id": f"r{i}", "strategy": "toy", "candles": str(candles), "config": {"n": 5 + i}} for i in range(8)]
    batch = write_json(tmp_path / "b.json", {"runs": runs})
    filler = fill(small_disk, leave=1_200_000)
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--workers", "1", env=home)
    res.assert_clean()
    assert res.code == 1, res.err
    assert "error [DISK_FULL]" in res.err and str(small_disk) in res.err, res.err
    assert temp_leftovers(out) == []
    listing = plughost("results", out, "--json", env=home)  # the journal is intact and readable
    listing.assert_clean()
    assert listing.code == 0, listing.err
    rows = json.loads(listing.out)
    done = {r["run_id"] for r in rows if r["status"] == "ok"}
    assert 0 < len(done) < len(runs), [r["status"] for r in rows]
    assert not any(r["status"] == "failed" for r in rows)  # disk full is not the run's failure
    published = {p.name: (p / "summary.json").stat().st_mtime_ns for p in (out / "runs").iterdir()}
    assert set(published) == done
    filler.unlink()
    again = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--workers", "1", "--resume",
                     "--json", env=home)
    again.assert_clean()
    assert again.code == 0, again.err
    assert [r["status"] for r in json.loads(again.out)] == ["ok"] * len(runs)
    for run_id, mtime in published.items():
        assert (out / "runs" / run_id / "summary.json").stat().st_mtime_ns == mtime, run_id


def test_disk_full_single_run(tmp_path: Path, small_disk: Path, plugins: Path, home: dict[str, str]) -> None:
    candles = write_candles(tmp_path / "big.parquet", n=20_000, seed=4)
    out = small_disk / "out"
    (out / "runs").mkdir(parents=True)
    fill(small_disk, leave=20_000)
    res = plughost("run", "--strategy", "toy", "--candles", candles, "--out", out, "--plugins-dir", plugins,
                   "--run-id", "one", env=home)
    res.assert_clean()
    assert res.code == 1 and "error [DISK_FULL]" in res.err and str(out) in res.err, res.err
    assert temp_leftovers(out) == [] and not (out / "runs" / "one").exists()
