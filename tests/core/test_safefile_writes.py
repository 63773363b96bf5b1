"""The one way the host replaces a file or a folder whole: readers see the old or the new, never a part, and
nothing is left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from plughost.batch.ray_engine import publish_files
from plughost.plugins.registry import STATE_FILE, set_enabled
from plughost.safefile import atomic_write, replace_dir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomic_write(target, "old\n")
    atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_atomic_write_private_mode(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "cache.json", "{}", mode=0o600, durable=False)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "report.html", "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "new \udc80")  # cannot be encoded: fails after the temporary file exists
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_the_state_file_is_written_privately(tmp_path: Path) -> None:
    assert set_enabled(tmp_path, "sma-cross", False)
    path = tmp_path / STATE_FILE
    assert json.loads(path.read_text()) == {"disabled": ["sma-cross"], "version": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_replace_dir_swaps_a_folder_in_one_rename(tmp_path: Path) -> None:
    final = tmp_path / "runs" / "r1"
    final.mkdir(parents=True)
    (final / "summary.json").write_text("old")
    tmp = tmp_path / "runs" / ".tmp-r1-1"
    tmp.mkdir()
    (tmp / "summary.json").write_text("new")
    assert replace_dir(tmp, final) == final
    assert (final / "summary.json").read_text() == "new"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["r1"]  # neither the temporary nor the old one


def test_ray_publish_files_writes_a_run_folder_whole(tmp_path: Path) -> None:
    files = {"summary.json": b"{}", "trades.parquet": b"t", "artifacts/f/a.txt": b"a", "../escape": b"x"}
    run_dir = publish_files(tmp_path, "r1", files)
    assert sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()) == [
        "artifacts/f/a.txt", "summary.json", "trades.parquet"]
    publish_files(tmp_path, "r1", {"summary.json": b"2"})  # a second publication replaces the folder
    assert [p.name for p in run_dir.iterdir()] == ["summary.json"] and (run_dir / "summary.json").read_text() == "2"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["r1"]
    assert not (tmp_path / "escape").exists()
