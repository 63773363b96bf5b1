"""Every file the host builds on goes through one loader with limits (depth, size, integer range), and each
violation is that file's own error code; a broken plugin breaks only itself (issue 15, items 3, 5, 7-10)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from plughost.batch import load_batch
from plughost.errors import ConfigError, DataError
from plughost.executor.data import load_alerts
from plughost.safefile import FileLimitError, dumps, loads_json, loads_toml

from .conftest import plughost, write_json

DEEP = 2000


def nested_json(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_the_loader_refuses_depth_size_and_big_integers() -> None:
    assert loads_json(nested_json(60)) is not None
    for text in (nested_json(65), "[" * 100_000 + "]" * 100_000, str(2**64), str(-(2**63)), "1" * 5000):
        with pytest.raises(FileLimitError):
            loads_json(text)
    assert loads_json(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(FileLimitError):
        loads_toml("a = " + "[" * 500 + "]" * 500)
    with pytest.raises(FileLimitError):
        loads_toml(f"a = {2**64}")


def test_the_encoder_writes_null_for_nan_and_infinities() -> None:
    import numpy as np

    text = dumps({"a": float("nan"), "b": [float("inf"), -float("inf")], "c": np.float64("nan"), "d": 1.5})
    assert json.loads(text) == {"a": None, "b": [None, None], "c": None, "d": 1.5}


@pytest.fixture
def mixed(tmp_path: Path, plugins: Path) -> Path:
    """Good plugins beside one whose plugin.json is 2,000 levels deep and one with a circular $ref."""
    root = tmp_path / "plugins"
    shutil.copytree(plugins / "strategies" / "snoop", root / "snoop")
    shutil.copytree(plugins / "strategies" / "sma-cross", root / "sma-cross")
    (root / "deep").mkdir()
    (root / "deep" / "plugin.json").write_text(nested_json(DEEP))
    loop = root / "loopy"
    shutil.copytree(plugins / "strategies" / "snoop", loop)
    manifest = json.loads((loop / "plugin.json").read_text())
    manifest.update(name="loopy", configSchema="schema.json")
    write_json(loop / "plugin.json", manifest)
    write_json(loop / "schema.json", {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}},
                                      "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}})
    self_loop = root / "selfref"
    shutil.copytree(loop, self_loop)
    manifest["name"] = "selfref"
    write_json(self_loop / "plugin.json", manifest)
    write_json(self_loop / "schema.json", {"$ref": "#"})
    return root


def test_a_pathological_manifest_breaks_only_itself(mixed: Path, candles: Path, tmp_path: Path,
                                                    home: dict[str, str]) -> None:
    listing = plughost("list-plugins", "--plugins-dir", mixed, "--json", env=home)
    listing.assert_clean()
    entries = {e["name"]: e for e in json.loads(listing.out)["plugins"]}
    assert entries["snoop"]["valid"] and entries["sma-cross"]["valid"]
    assert not entries["deep"]["valid"] and "nested deeper" in json.dumps(entries["deep"]["diagnostics"])
    for name in ("loopy", "selfref"):  # a circular $ref: invalid in the listing too
        assert not entries[name]["valid"], entries[name]
        assert "circular $ref" in json.dumps(entries[name]["diagnostics"])
    for target in ("snoop", mixed / "deep", mixed / "loopy", mixed / "selfref"):
        res = plughost("validate-plugin", target, "--plugins-dir", mixed, env=home)
        res.assert_clean()
        assert res.code == (0 if target == "snoop" else 1), res.err + res.out
    good = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", tmp_path / "out",
                    "--plugins-dir", mixed, env=home)
    assert good.code == 0, good.err
    for name in ("loopy", "selfref"):
        bad = plughost("run", "--strategy", name, "--candles", candles, "--out", tmp_path / "out",
                       "--plugins-dir", mixed, env=home)
        bad.assert_clean()
        assert bad.code == 2 and ("MANIFEST_INVALID" in bad.err or "CONFIG_INVALID" in bad.err), bad.err
        assert "circular $ref" in bad.err


def test_deep_and_huge_inputs_in_every_file(tmp_path: Path, candles: Path, plugins: Path,
                                            home: dict[str, str]) -> None:
    out = tmp_path / "out"
    deep_cfg = tmp_path / "deep.json"
    deep_cfg.write_text(nested_json(DEEP))
    big_int_cfg = write_json(tmp_path / "big.json", {"n": 2**64})
    for cfg in (deep_cfg, big_int_cfg):
        res = plughost("run", "--strategy", "snoop", "--candles", candles, "--config", cfg, "--out", out,
                       "--plugins-dir", plugins, env=home)
        res.assert_clean()
        assert res.code == 2 and "error [CONFIG_INVALID]" in res.err, res.err
    deep_batch = tmp_path / "deep-batch.json"
    deep_batch.write_text('{"runs": [' + nested_json(DEEP) + "]}")
    toml_batch = tmp_path / "deep.toml"
    toml_batch.write_text("[[runs]]\nstrategy = 'snoop'\nx = " + "[" * DEEP + "]" * DEEP + "\n")
    int_batch = write_json(tmp_path / "int-batch.json", {"runs": [{"strategy": "snoop", "candles": str(candles),
                                                                   "config": {"n": 2**64}}]})
    for batch in (deep_batch, toml_batch, int_batch):
        res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, env=home)
        res.assert_clean()
        assert res.code == 2 and "error [CONFIG_INVALID]" in res.err, res.err
    env_override = plughost("run", "--strategy", "snoop", "--candles", candles, "--out", out, "--plugins-dir",
                            plugins, env={**home, "PLUGHOST_CFG_SNOOP__N": str(2**64)})
    env_override.assert_clean()
    assert env_override.code == 2 and "CONFIG_INVALID" in env_override.err and "2^63" in env_override.err


def test_alert_files_deep_big_integer_and_huge_payload(tmp_path: Path, candles: Path, plugins: Path,
                                                       home: dict[str, str]) -> None:
    ts = 1_700_000_000_000
    cases = {
        "deep.jsonl": f'{{"id": 1, "timestamp": {ts}, "symbol": "SEC", "x": {nested_json(DEEP)}}}\n',
        "int.jsonl": json.dumps({"id": 1, "timestamp": 2**64, "symbol": "SEC"}) + "\n",
        "huge.jsonl": json.dumps({"id": 1, "timestamp": ts, "symbol": "SEC", "blob": "x" * (70 << 20)}) + "\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(DataError):
            load_alerts(path)
        res = plughost("run", "--strategy", "snoop", "--candles", candles, "--alerts", path, "--out",
                       tmp_path / "out", "--plugins-dir", plugins, env=home, timeout=300)
        res.assert_clean()
        assert "DATA_INVALID" in res.err and "PLUGIN_CRASHED" not in res.err, res.err[-2000:]
        assert res.code == 2


@pytest.mark.parametrize("value", ["inf", "1e10", "0", "-1", "nan", "86401"])
def test_timeouts_out_of_range(tmp_path: Path, candles: Path, plugins: Path, home: dict[str, str],
                               value: str) -> None:
    for flag in ("--call-timeout", "--start-timeout"):
        res = plughost("run", "--strategy", "snoop", "--candles", candles, flag, value, "--out", tmp_path / "out",
                       "--plugins-dir", plugins, env=home)
        res.assert_clean()
        assert res.code == 2 and "error [USAGE_ERROR]" in res.err, res.err
    batch = write_json(tmp_path / "b.json", {"runs": [{"strategy": "snoop", "candles": str(candles),
                                                       "call_timeout": float(value) if value != "inf" else 1e300}]})
    res = plughost("run", "--batch", batch, "--out", tmp_path / "out", "--plugins-dir", plugins, env=home)
    res.assert_clean()
    assert res.code == 2 and "CONFIG_INVALID" in res.err


def test_a_huge_sweep_is_refused_without_expanding_it(tmp_path: Path, candles: Path) -> None:
    grid = {f"k{i}": list(range(10)) for i in range(9)}  # 10^9 points
    batch = write_json(tmp_path / "b.json", {"sweeps": [{"strategy": "snoop", "candles": str(candles), "grid": grid}]})
    with pytest.raises(ConfigError, match="1,000,000,000 runs"):
        load_batch(batch)
    res = plughost("run", "--batch", batch, "--out", tmp_path / "out", timeout=60)
    res.assert_clean()
    assert res.code == 2 and "max_runs" in res.err
    capped = write_json(tmp_path / "c.json", {"batch": {"max_runs": 5}, "sweeps": [
        {"strategy": "snoop", "candles": str(candles), "grid": {"a": [1, 2, 3], "b": [1, 2]}}]})
    with pytest.raises(ConfigError, match="limit is 5"):
        load_batch(capped)


def test_a_corrupt_journal_is_a_clear_error(tmp_path: Path, candles: Path, plugins: Path,
                                            home: dict[str, str]) -> None:
    out = tmp_path / "out"
    batch = write_json(tmp_path / "b.json", {"runs": [{"id": "r1", "strategy": "snoop", "candles": str(candles)}]})
    assert plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, env=home).code == 0
    journal = out / ".plughost" / "journal.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(journal) + suffix).unlink(missing_ok=True)
    journal.write_bytes(b"this is not a database" * 100)
    for args in (["results", out], ["results", out, "--json"],
                 ["run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--resume"]):
        res = plughost(*args, env=home)
        res.assert_clean()
        assert res.code == 2 and "error [JOURNAL_CORRUPT]" in res.err, res.err
    # the hint works: move it away and resume; the published run is adopted, not run again
    mtime = (out / "runs" / "r1" / "summary.json").stat().st_mtime_ns
    journal.rename(tmp_path / "broken.sqlite")
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--resume", env=home)
    assert res.code == 0, res.err
    assert (out / "runs" / "r1" / "summary.json").stat().st_mtime_ns == mtime  # adopted, not rewritten
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("ok",)]
