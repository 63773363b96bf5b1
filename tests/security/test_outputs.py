"""Where results go: a run id never leaves --out, an existing run folder is never replaced by a single run,
and an unusable --out is a clear usage error (issue 15, item 1 and 9)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from plughost.errors import UsageError
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

from .conftest import files_under, plughost, write_json

BAD_IDS = ["../x", "../../escape", "/tmp/plughost-abs-id", "a/b", "..", ".", ".hidden", "-dash", "x" * 129, "a b",
           "id\nnewline", "ü"]


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_cli_refuses_run_ids_that_are_not_one_folder_name(tmp_path: Path, candles: Path, plugins: Path,
                                                          home: dict[str, str], run_id: str) -> None:
    work = tmp_path / "work"
    out = work / "out"
    work.mkdir()
    before = files_under(tmp_path)
    res = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", out, "--run-id", run_id,
                   "--plugins-dir", plugins, env=home)
    res.assert_clean()
    assert res.code == 2, res.err
    assert "error [USAGE_ERROR]" in res.err and "run id" in res.err
    assert files_under(tmp_path) == before  # nothing written anywhere, --out included
    assert not Path("/tmp/plughost-abs-id").exists()


def test_existing_run_folder_is_refused_and_left_untouched(tmp_path: Path, candles: Path, plugins: Path,
                                                           home: dict[str, str]) -> None:
    out = tmp_path / "out"
    mine = out / "runs" / "precious"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    res = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", out, "--run-id", "precious",
                   "--plugins-dir", plugins, env=home)
    res.assert_clean()
    assert res.code == 2 and "error [OUTPUT_REFUSED]" in res.err and str(mine) in res.err
    assert files_under(mine) == {"notes.txt"} and (mine / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["precious"]  # no temporary folder left
    ok = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", out, "--run-id", "fresh.1_a-b",
                  "--plugins-dir", plugins, env=home)
    assert ok.code == 0, ok.err
    assert (out / "runs" / "fresh.1_a-b" / "summary.json").is_file()


def test_python_api_refuses_bad_run_ids(tmp_path: Path, candles: Path, plugins: Path) -> None:
    registry = Registry.discover([plugins], home=tmp_path / "home", use_cache=False)
    run = RunConfig.parse({"strategy": "snoop", "candles": str(candles)})
    for run_id in ("../x", str(tmp_path / "abs"), "a/b", ".."):
        with pytest.raises(UsageError):
            run_backtest(run, registry=registry, out_dir=tmp_path / "out", run_id=run_id)
    assert files_under(tmp_path) <= {"home"} | {p for p in files_under(tmp_path) if p.startswith("home")}


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ".."])
def test_batch_ids_follow_the_same_rule(tmp_path: Path, candles: Path, plugins: Path, home: dict[str, str],
                                        bad_id: str) -> None:
    batch = write_json(tmp_path / "b.json", {"runs": [{"id": bad_id, "strategy": "snoop", "candles": str(candles)}]})
    out = tmp_path / "out"
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, env=home)
    res.assert_clean()
    assert res.code == 2 and "error [CONFIG_INVALID]" in res.err
    assert not out.exists() and not (tmp_path / "escape").exists()


def test_out_naming_a_file_or_an_unwritable_folder(tmp_path: Path, candles: Path, plugins: Path,
                                                   home: dict[str, str]) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    for args in (["--strategy", "snoop", "--candles", str(candles)],
                 ["--batch", str(write_json(tmp_path / "b.json", {"runs": [{"strategy": "snoop",
                                                                            "candles": str(candles)}]}))]):
        for out in (a_file, a_file / "below"):
            res = plughost("run", *args, "--out", out, "--plugins-dir", plugins, env=home)
            res.assert_clean()
            assert res.code == 2 and "error [USAGE_ERROR]" in res.err, res.err
    assert a_file.read_text() == "keep"
    if os.geteuid() != 0:  # root writes anywhere; the read-only case needs an ordinary user
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        res = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", ro, "--plugins-dir", plugins,
                       env=home)
        res.assert_clean()
        assert res.code == 2 and "error [USAGE_ERROR]" in res.err


def test_env_values_are_not_recorded(tmp_path: Path, candles: Path, plugins: Path, home: dict[str, str]) -> None:
    secret = "s3cr3t-value-2b1f"
    out = tmp_path / "out"
    config = write_json(tmp_path / "c.json", {"env": {"BROKER_KEY": secret}})
    # `env` is a run key: through a batch file (a run config file holds strategy parameters)
    batch = write_json(tmp_path / "b.json", {"runs": [{"id": "r1", "strategy": "snoop", "candles": str(candles),
                                                       "env": {"BROKER_KEY": secret}}]})
    assert config.exists()
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--json", env=home)
    assert res.code == 0, res.err
    summary = json.loads((out / "runs" / "r1" / "summary.json").read_text())
    assert summary["run_config"]["env"] == ["BROKER_KEY"]
    assert secret not in res.out
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    listing = plughost("results", out, "--json", env=home)
    assert listing.code == 0 and secret not in listing.out
