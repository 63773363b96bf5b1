"""A batch survives what one run brings: NaN and infinite plugin metrics, configs of one plugin that crash
beside configs that work, a run that fails part-way (issue 15, items 11, 12 and 14)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .conftest import plughost, write_json


def test_nan_and_infinite_plugin_metrics_in_a_batch(tmp_path: Path, candles: Path, plugins: Path,
                                                    home: dict[str, str]) -> None:
    out = tmp_path / "out"
    batch = write_json(tmp_path / "b.json", {"runs": [
        {"id": f"r{i}", "strategy": "toy", "candles": str(candles), "config": {"n": 5 + i},
         "features": ["nanny", "custom-metrics"]} for i in range(3)]})
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--workers", "2", "--json",
                   env=home)
    res.assert_clean()
    assert res.code == 0, res.err
    rows = json.loads(res.out)  # strict JSON: no NaN / Infinity tokens
    assert "NaN" not in res.out and "Infinity" not in res.out
    assert [r["status"] for r in rows] == ["ok"] * 3
    for r in rows:
        assert r["plugin_metrics"]["nanny"] == {"nan": None, "inf": None, "ninf": None, "one": 1.0}
        summary_text = (out / "runs" / r["run_id"] / "summary.json").read_text()
        assert "NaN" not in summary_text and "Infinity" not in summary_text
    assert (out / "report.html").is_file()
    again = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--resume", "--json", env=home)
    again.assert_clean()
    assert again.code == 0 and [r["status"] for r in json.loads(again.out)] == ["ok"] * 3
    listing = plughost("results", out, "--json", env=home)
    assert listing.code == 0 and "NaN" not in listing.out


def test_custom_metrics_never_returns_nan(tmp_path: Path, candles: Path, plugins: Path,
                                          home: dict[str, str]) -> None:
    # a strategy that never trades: no winning and no losing trade
    out = tmp_path / "out"
    batch = write_json(tmp_path / "b.json", {"runs": [{"id": "flat", "strategy": "toy", "candles": str(candles),
                                                       "config": {"n": 100_000}, "features": ["custom-metrics"]}]})
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, env=home)
    assert res.code == 0, res.err
    summary = json.loads((out / "runs" / "flat" / "summary.json").read_text())
    metrics = summary["plugin_metrics"]["custom-metrics"]
    assert metrics["avg_win"] is None and metrics["win_loss_ratio"] is None
    assert not summary["warnings"], summary["warnings"]  # null is a metric, not a refused value
    assert all(v is None or math.isfinite(v) for v in metrics.values())


def test_crashing_configs_do_not_quarantine_the_working_ones(tmp_path: Path, candles: Path, plugins: Path,
                                                             home: dict[str, str]) -> None:
    """Two configs segfault (3 attempts each) before the configs that work; quarantine_after = 3."""
    out = tmp_path / "out"
    runs = [{"id": f"crash{i}", "strategy": "toy", "candles": str(candles), "config": {"n": 5 + i,
                                                                                      "mode": "segfault"}}
            for i in range(3)]
    runs += [{"id": f"fine{i}", "strategy": "toy", "candles": str(candles), "config": {"n": 5 + i}}
             for i in range(4)]
    batch = write_json(tmp_path / "b.json", {"batch": {"quarantine_after": 3, "max_retries": 2}, "runs": runs})
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--workers", "1", "--json",
                   env=home)
    res.assert_clean()
    assert res.code == 1, res.err
    rows = {r["run_id"]: r for r in json.loads(res.out)}
    for i in range(3):
        assert rows[f"crash{i}"]["status"] == "failed"
        assert rows[f"crash{i}"]["error"]["code"] == "PLUGIN_CRASHED"
        assert rows[f"crash{i}"]["attempts"] == 3  # retried, then failed: its own failure only
    for i in range(4):
        assert rows[f"fine{i}"]["status"] == "ok", rows[f"fine{i}"]["error"]
    assert "PLUGIN_QUARANTINED" not in res.out


def test_a_plugin_that_cannot_start_is_still_quarantined(tmp_path: Path, candles: Path, plugins: Path,
                                                         home: dict[str, str]) -> None:
    root = tmp_path / "plugins"
    broken = root / "broken"
    broken.mkdir(parents=True)
    write_json(broken / "plugin.json", {"name": "broken", "version": "1.0.0", "type": "strategy",
                                        "language": "python", "entry": "main.py"})
    (broken / "main.py").write_text("import os\nos._exit(3)\n")  # dies before its handshake, whatever the config
    runs = [{"id": f"b{i}", "strategy": "broken", "candles": str(candles), "config": {"n": i}} for i in range(6)]
    batch = write_json(tmp_path / "b.json", {"batch": {"quarantine_after": 2, "max_retries": 0,
                                                       "retry_errors": ["PLUGIN_HANDSHAKE_FAILED"]}, "runs": runs})
    res = plughost("run", "--batch", batch, "--out", tmp_path / "out", "--plugins-dir", root, "--workers", "1",
                   "--json", env=home)
    res.assert_clean()
    assert res.code == 1
    codes = [r["error"]["code"] for r in json.loads(res.out)]
    assert codes[:2] == ["PLUGIN_HANDSHAKE_FAILED"] * 2 and set(codes[2:]) == {"PLUGIN_QUARANTINED"}, codes


def test_a_run_that_failed_part_way_shows_no_partial_metrics(tmp_path: Path, candles: Path, plugins: Path,
                                                             home: dict[str, str]) -> None:
    out = tmp_path / "out"
    batch = write_json(tmp_path / "b.json", {"runs": [
        {"id": "boom", "strategy": "toy", "candles": str(candles), "config": {"n": 5, "mode": "raise"}},
        {"id": "good", "strategy": "toy", "candles": str(candles), "config": {"n": 5}}]})
    res = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, env=home)
    res.assert_clean()
    assert res.code == 1
    line = next(ln for ln in res.out.splitlines() if ln.startswith("boom"))
    assert "PLUGIN_ERROR" in line and "%" not in line, line
    good = next(ln for ln in res.out.splitlines() if ln.startswith("good"))
    assert "%" in good
