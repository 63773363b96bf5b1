"""`plughost report DIR` and `plughost results DIR --sort METRIC` as a user runs them (real subprocesses, real
result folders), the report of a folder written by hand in the newer result format (Arrow timestamps,
`side`, `fees`), and the vendored charting library against its npm pin."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plughost.batch import load_batch, run_batch
from plughost.plugins.registry import Registry
from plughost.reports import collect_runs
from plughost.reports.pages import ASSETS, CHART_LIBRARY, _make_env, _Precompiled, table_trades
from plughost.reports.series import MAX_BARS, MAX_TRADE_ROWS, Trade, TradeTable

from .conftest import PLUGHOST, PLUGINS, REPO, write_batch, write_candles


def plughost(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PLUGHOST), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    batch = {"runs": [{"id": "broken", "strategy": "toy", "candles": str(data_dir / "c0.parquet"),
                       "config": {"mode": "raise"}}],
             "sweeps": [{"id": "g", "strategy": "toy", "candles": str(data_dir / "c1.parquet"),
                         "grid": {"n": [3, 8, 30], "delay_ms": [0, 1]}}]}
    out = tmp / "out"
    run_batch(load_batch(write_batch(tmp / "b.json", batch)), out, registry=Registry.discover([PLUGINS]), workers=2)
    return out


def test_results_sort_ranks_best_first_with_failures_last(sweep: Path) -> None:
    proc = plughost("results", str(sweep), "--sort", "sharpe", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    sharpe = [r["metrics"]["sharpe"] for r in rows if r["status"] == "ok"]
    assert sharpe == sorted(sharpe, reverse=True) and len(sharpe) == 6
    assert rows[-1]["run_id"] == "broken" and rows[-1]["metrics"] is None  # no partial metrics for a failure
    assert rows[-1]["error"]["code"] == "PLUGIN_ERROR"
    assert {r["run_id"]: r["params"] for r in rows}["g-0001"] == {"n": 3, "delay_ms": 1}
    dd = [r["metrics"]["max_drawdown"] for r in json.loads(plughost("results", str(sweep), "--sort", "max_drawdown",
                                                                    "--json").stdout) if r["metrics"]]
    assert dd == sorted(dd)  # less drawdown is better
    table = plughost("results", str(sweep), "--sort", "profit_factor")
    assert table.returncode == 0 and "profit_factor" in table.stdout and "delay_ms" in table.stdout


def test_results_sort_unknown_metric_lists_the_valid_ones(sweep: Path) -> None:
    proc = plughost("results", str(sweep), "--sort", "sharp")
    assert proc.returncode == 2
    assert "error [USAGE_ERROR]" in proc.stderr and "'sharp'" in proc.stderr
    for name in ("sharpe", "return_pct", "max_drawdown", "num_trades"):
        assert name in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_and_results_on_a_folder_without_runs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for args in (["report", str(tmp_path / "empty")], ["results", str(tmp_path / "empty")],
                 ["report", str(tmp_path / "missing")]):
        proc = plughost(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error [USAGE_ERROR]") and "Traceback" not in proc.stderr
    assert not (tmp_path / "empty" / "report.html").exists()


def test_single_runs_are_listed_and_reported(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "out"
    for run_id, n in (("a", 4), ("b", 12)):
        proc = plughost("run", "--strategy", "toy", "--candles", str(data_dir / "c3.parquet"), "--out", str(out),
                        "--run-id", run_id, "--plugins-dir", str(PLUGINS), "--config", str(_config(tmp_path, n)))
        assert proc.returncode == 0, proc.stderr
        assert (out / "runs" / run_id / "report.html").is_file() and "report:" in proc.stderr
    rows = json.loads(plughost("results", str(out), "--json").stdout)
    assert [r["run_id"] for r in rows] == ["a", "b"] and all(r["status"] == "ok" for r in rows)
    assert [r["params"] for r in rows] == [{"n": 4}, {"n": 12}]  # the config values that differ
    overview = (out / "report.html").read_text()
    assert 'href="runs/a/report.html"' in overview and 'href="runs/b/report.html"' in overview
    (out / "report.html").unlink()
    (out / "runs" / "a" / "report.html").unlink()
    proc = plughost("report", str(out))
    assert proc.returncode == 0 and (out / "report.html").is_file() and (out / "runs" / "a" / "report.html").is_file()


def _config(tmp: Path, n: int) -> Path:
    path = tmp / f"cfg{n}.json"
    path.write_text(json.dumps({"n": n}))
    return path


def _hand_made_run(out: Path, candles: Path, *, n_candles: int) -> dict[str, Any]:
    """A run folder in the newer result format: trade times as Arrow timestamps (ms, UTC), side and fees."""
    run_dir = out / "runs" / "new-format"
    run_dir.mkdir(parents=True)
    t0 = 1_700_000_000_000
    ts = pa.array([t0 + 60_000 * i for i in (10, 50, 200)], pa.timestamp("ms", tz="UTC"))
    exit_ts = pa.array([t0 + 60_000 * i for i in (30, 120, 400)], pa.timestamp("ms", tz="UTC"))
    pq.write_table(pa.table({
        "symbol": ["c", "c", "c"], "side": ["long", "short", "long"], "entry_time": ts, "entry_price": [100.0, 101, 99],
        "exit_time": exit_ts, "exit_price": [101.0, 100, 98], "size": [1.0, 2, 1], "fees": [0.1, 0.2, 0.1],
        "pnl": [0.9, 1.8, -1.1], "entry_reason": ["a", "b", "c"], "exit_reason": ["x", "stop_loss", "y"]}),
        run_dir / "trades.parquet")
    eq_ts = pa.array(np.arange(n_candles, dtype=np.int64) * 60_000 + t0, pa.timestamp("ms", tz="UTC"))
    pq.write_table(pa.table({"timestamp": eq_ts, "equity": 10_000 + np.sin(np.arange(n_candles) / 50.0) * 100}),
                   run_dir / "equity.parquet")
    summary = {"run_id": "new-format", "status": "ok", "strategy": "hand", "error": None,
               "config": {"k": 1, "note": "</script><script>window.pwned = 1</script>"},
               "metrics": {"num_trades": 3, "return_pct": 0.016, "sharpe": 0.5, "cagr": 1.2, "sortino": 0.7,
                           "calmar": 0.3, "max_drawdown": 2.0},
               "plugin_metrics": {}, "ignored_signals": 0, "rejected_signals": 0, "expired_orders": 2,
               "warnings": [{"code": "LIQUIDATED", "plugin": None, "message": "equity reached zero"}],
               "timestamp_unit": "ms", "symbols": ["c"], "candles": n_candles,
               "run_config": {"candles": str(candles), "initial_capital": 10_000}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return summary


def test_report_reads_the_newer_result_format_and_bounds_a_long_run(tmp_path: Path) -> None:
    n = 60_000  # more candles than bars: the page aggregates them
    candles = write_candles(tmp_path / "c.parquet", n, seed=3)
    out = tmp_path / "out"
    _hand_made_run(out, candles, n_candles=n)
    proc = plughost("report", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "runs" / "new-format" / "report.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)[1])
    chart = data["charts"][0]
    assert 0 < len(chart["bars"]["t"]) <= MAX_BARS and chart["bars"]["t"] == sorted(set(chart["bars"]["t"]))
    table = pq.read_table(candles)
    assert max(chart["bars"]["h"]) == pytest.approx(max(table.column("high").to_pylist()), rel=1e-7)
    assert min(chart["bars"]["l"]) == pytest.approx(min(table.column("low").to_pylist()), rel=1e-7)
    markers = chart["markers"]
    assert [(m["shape"], m["color"]) for m in markers[:4]] == [
        ("arrowUp", "#16a34a"), ("arrowDown", "#2563eb"),     # long entry, its exit
        ("arrowDown", "#dc2626"), ("arrowUp", "#2563eb")]     # short entry, its exit
    assert len(data["equity"]["t"]) <= 5000 and len(data["equity"]["bh"]) == len(data["equity"]["t"])
    assert "stop_loss" in page and "LIQUIDATED" in page and "expired orders" in page and "sortino" in page
    assert "2023-11-14 22:23:20" in page  # the first entry time, read from an Arrow timestamp
    assert len(page) < 1_500_000
    assert "<script>window.pwned" not in page  # config text is escaped, in HTML and in the page's JSON
    assert "<script>window.pwned" not in (out / "report.html").read_text()
    folder = collect_runs(out)
    assert folder.metric_names()[:4] == ["num_trades", "return_pct", "cagr", "max_drawdown"]
    (out / "runs" / "new-format" / "trades.parquet").write_bytes(b"torn")  # a damaged file: said, not fatal
    assert plughost("report", str(out)).returncode == 0
    assert "trades.parquet could not be read" in (out / "runs" / "new-format" / "report.html").read_text()


def test_old_journal_without_params_column_is_read(sweep: Path, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    copy = tmp_path / "old"
    shutil.copytree(sweep, copy)
    db = sqlite3.connect(copy / ".plughost" / "journal.sqlite")
    db.execute("ALTER TABLE runs DROP COLUMN params")
    db.commit()
    db.close()
    folder = collect_runs(copy)
    assert folder.param_keys == ["mode", "n", "delay_ms"]  # the config keys whose values differ
    assert plughost("report", str(copy)).returncode == 0


def test_vendored_chart_library_matches_its_npm_pin() -> None:
    pin = json.loads((REPO / "package.json").read_text())["devDependencies"]["lightweight-charts"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pin), "pin an exact version"
    vendored = (ASSETS / CHART_LIBRARY).read_bytes()
    assert f"Lightweight Charts\u2122 v{pin}\n".encode() in vendored[:300]
    assert b"Apache License" in (ASSETS / "LICENSE").read_bytes()
    installed = REPO / "node_modules" / "lightweight-charts"
    if installed.is_dir():  # after `make setup`: the committed copy is the npm package's file
        assert json.loads((installed / "package.json").read_text())["version"] == pin
        assert (installed / "dist" / CHART_LIBRARY).read_bytes() == vendored, "run `make vendor-charts`"


def test_a_long_trade_list_keeps_its_start_and_its_extremes() -> None:
    pnl = np.random.default_rng(5).normal(0, 10, 3 * MAX_TRADE_ROWS)
    trades = TradeTable.of([Trade("s", "long", i, i + 1, 1.0, 1.0, 1.0, 0.0, float(p), "", "")
                            for i, p in enumerate(pnl)])
    rows = table_trades(trades)
    numbers = [n for n, _ in rows]
    assert len(rows) == MAX_TRADE_ROWS and numbers == sorted(numbers)
    assert numbers[:MAX_TRADE_ROWS // 2] == list(range(1, MAX_TRADE_ROWS // 2 + 1))
    shown = {t.pnl for _, t in rows}
    assert max(pnl) in shown and min(pnl) in shown
    first = TradeTable.of([trades[i] for i in range(10)])
    assert table_trades(first) == [(i + 1, trades[i]) for i in range(10)]


def test_precompiled_templates_render_the_same_and_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    """`make setup` writes the templates' bytecode (reports/pages.py `_Precompiled`); pages read it and never
    write it; a damaged or stale file is compiled from the template as usual."""
    names = ("run.html.j2", "overview.html.j2", "run.js", "report.css")
    cache = tmp_path / "bytecode"
    writer = _make_env(_Precompiled(cache, write=True))
    for name in names:
        writer.get_template(name)
    written = sorted(p.name for p in cache.iterdir())
    assert len(written) == len(names)
    reader = _make_env(_Precompiled(cache))
    fresh = _make_env(_Precompiled(tmp_path / "none"))
    assert reader.get_template("report.css").render() == fresh.get_template("report.css").render()
    for path in cache.iterdir():
        path.write_bytes(b"not jinja bytecode")
    damaged = _make_env(_Precompiled(cache))
    assert damaged.get_template("report.css").render() == fresh.get_template("report.css").render()
    assert sorted(p.name for p in cache.iterdir()) == written and not (tmp_path / "none").exists()  # never written
