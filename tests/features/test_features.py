"""Feature plugins end to end: real plugin processes through run_backtest (and one through the CLI)."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from plughost.cli import main
from plughost.executor.engine import RunOutcome, run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000
MIN = 60_000


@pytest.fixture
def candles(tmp_path: Path) -> Path:
    """A seeded random walk long enough for many sma-cross trades and several 256-candle batches."""
    rng = np.random.default_rng(11)
    n = 3000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    path = tmp_path / "candles.parquet"
    pq.write_table(pa.table({
        "timestamp": T0 + np.arange(n, dtype=np.int64) * MIN, "open": open_,
        "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998, "close": close,
        "volume": np.ones(n)}), path)
    return path


def make_feature(root: Path, name: str, body: str) -> Path:
    """A Python feature plugin folder `root/name` whose class body is `body`."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps(
        {"name": name, "version": "1.0.0", "type": "feature", "language": "python", "entry": "feature.py"}))
    (folder / "feature.py").write_text(
        "import os, time\nfrom plughost_sdk import FeaturePlugin\n\n\nclass F(FeaturePlugin):\n"
        + textwrap.indent(textwrap.dedent(body), "    "))
    return folder


def run(tmp_path: Path, candles: Path, features: list[Any], run_id: str = "r", **kwargs: Any) -> RunOutcome:
    registry = Registry.discover([tmp_path / "features", REPO / "plugins"], use_cache=False)
    config = RunConfig.parse({"strategy": "sma-cross", "candles": str(candles), "features": features,
                              "batch_size": 256, "call_timeout": 10, **kwargs})
    return run_backtest(config, registry=registry, out_dir=tmp_path / "out", run_id=run_id)


def trades(outcome: RunOutcome) -> list[dict[str, Any]]:
    assert outcome.run_dir is not None
    rows: list[dict[str, Any]] = pq.read_table(outcome.run_dir / "trades.parquet").to_pylist()
    return rows


def summary(outcome: RunOutcome) -> dict[str, Any]:
    assert outcome.run_dir is not None
    data: dict[str, Any] = json.loads((outcome.run_dir / "summary.json").read_text())
    return data


def warnings_of(outcome: RunOutcome, plugin: str) -> list[dict[str, Any]]:
    return [w for w in summary(outcome)["warnings"] if w.get("plugin") == plugin]


def test_pre_run_changes_a_parameter_and_the_effective_config_is_recorded(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "fast-five", """
        def on_pre_run(self, run_config):
            run_config["config"] = {**run_config["config"], "fast": 5}
            run_config["fee_bps"] = 2.5
            return run_config
    """)
    changed = run(tmp_path, candles, ["fast-five"], run_id="changed")
    direct = run(tmp_path, candles, [], run_id="direct", config={"fast": 5, "fee_bps": 2.5})
    s = summary(changed)
    assert s["status"] == "ok", s["error"]
    assert s["config"] == {"fast": 5, "slow": 30, "fraction": 0.95}  # effective config, defaults applied
    assert s["run_config"]["config"]["fast"] == 5 and s["run_config"]["fee_bps"] == 2.5
    assert trades(changed) == trades(direct) and trades(changed)


@pytest.mark.parametrize("policy", ["continue", "fail"])
def test_pre_run_changing_the_strategy_is_refused_naming_plugin_and_field(
    tmp_path: Path, candles: Path, policy: str,
) -> None:
    make_feature(tmp_path / "features", "hijack", """
        def on_pre_run(self, run_config):
            return {**run_config, "strategy": "something-else", "config": {"fast": 3}}
    """)
    outcome = run(tmp_path, candles, [{"name": "hijack", "onError": policy}])
    s = summary(outcome)
    if policy == "fail":
        assert s["status"] == "failed"
        err = s["error"]
    else:  # recorded; the change (all of it) is dropped and the run goes on with the config as given
        assert s["status"] == "ok"
        assert s["config"]["fast"] == 10 and s["strategy"] == "sma-cross"
        [err] = warnings_of(outcome, "hijack")
        assert err["hook"] == "on_pre_run"
    assert err["code"] == "CONFIG_INVALID" and err["plugin"] == "hijack"
    assert "`strategy`" in err["message"] and "hijack" in err["message"]


def test_three_features_run_in_priority_then_name_order(tmp_path: Path, candles: Path) -> None:
    hook = """
        def on_pre_run(self, run_config):
            env = dict(run_config["env"])
            env["ORDER"] = (env.get("ORDER", "") + ",{name}").lstrip(",")
            return {{**run_config, "env": env}}

        def on_post_run(self, results):
            return {{"artifacts": {{"t.txt": str(time.monotonic_ns())}}}}
    """
    for name in ("alpha", "bravo", "charlie"):
        make_feature(tmp_path / "features", name, hook.format(name=name))
    outcome = run(tmp_path, candles, [{"name": "alpha"}, {"name": "charlie", "priority": 5},
                                      {"name": "bravo", "priority": 5}])
    s = summary(outcome)
    assert s["status"] == "ok", s["error"]
    assert s["run_config"]["env"]["ORDER"] == "bravo,charlie,alpha"  # priority high first, then name
    assert s["features"] == ["bravo", "charlie", "alpha"]
    art = outcome.run_dir / "artifacts"  # type: ignore[operator]
    stamps = [int((art / n / "t.txt").read_text()) for n in ("bravo", "charlie", "alpha")]
    assert stamps == sorted(stamps)  # on_post_run in the same order


def test_feature_raising_in_on_trade_is_recorded_and_never_changes_trades(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "bad-trade", """
        def on_trade(self, trade):
            raise RuntimeError(f"cannot handle {trade.symbol}")
    """)
    with_it = run(tmp_path, candles, ["bad-trade"], run_id="with")
    without = run(tmp_path, candles, [], run_id="without")
    assert with_it.status == "ok"
    assert trades(with_it) == trades(without) and len(trades(without)) > 5
    [w] = warnings_of(with_it, "bad-trade")
    assert w["hook"] == "on_trade" and w["code"] == "PLUGIN_ERROR" and w["type"] == "RuntimeError"
    assert "cannot handle" in w["message"] and "RuntimeError" in w["traceback"]
    assert w["count"] == len(trades(without))  # every trade was delivered, each failure counted
    assert summary(with_it)["metrics"] == summary(without)["metrics"]


def test_feature_process_dying_in_on_trade_is_recorded_and_never_changes_trades(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "dies", """
        def on_trade(self, trade):
            os._exit(3)

        def on_post_run(self, results):
            return {"metrics": {"never": 1}}
    """)
    with_it = run(tmp_path, candles, ["dies"], run_id="with")
    without = run(tmp_path, candles, [], run_id="without")
    assert with_it.status == "ok"
    assert trades(with_it) == trades(without)
    [w] = warnings_of(with_it, "dies")
    # detected at the next write to its pipe (on_candle/on_trade) or at on_post_run, whichever comes first
    assert w["code"] == "PLUGIN_CRASHED" and w["hook"] in ("on_candle", "on_trade", "on_post_run")
    assert w["exit_code"] == 3
    assert "dies" not in summary(with_it)["plugin_metrics"]


def test_feature_hanging_in_on_post_run_times_out_and_is_recorded(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "hangs", """
        def on_post_run(self, results):
            time.sleep(60)
    """)
    make_feature(tmp_path / "features", "zz-after", """
        def on_post_run(self, results):
            return {"metrics": {"ran": 1}}
    """)
    started = time.monotonic()
    outcome = run(tmp_path, candles, [{"name": "hangs", "timeout": 1.0}, "zz-after"])
    assert time.monotonic() - started < 20
    s = summary(outcome)
    assert s["status"] == "ok"
    [w] = warnings_of(outcome, "hangs")
    assert w["code"] == "PLUGIN_TIMEOUT" and w["hook"] == "on_post_run" and w["timeout"] == 1.0
    assert s["plugin_metrics"] == {"zz-after": {"ran": 1.0}}  # the next feature still ran


def test_slow_feature_is_timed_out_by_back_pressure_without_changing_trades(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "slow", """
        def on_candle(self, candle):
            time.sleep(0.01)
    """)
    started = time.monotonic()
    with_it = run(tmp_path, candles, [{"name": "slow", "timeout": 0.5}], run_id="with", batch_size=8192)
    assert time.monotonic() - started < 20
    without = run(tmp_path, candles, [], run_id="without")
    [w] = warnings_of(with_it, "slow")
    assert w["code"] == "PLUGIN_TIMEOUT" and w["hook"] in ("on_candle", "on_trade", "on_post_run")
    assert with_it.status == "ok" and trades(with_it) == trades(without)


def test_artifacts_land_in_the_plugins_folder_and_metrics_in_plugin_metrics(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "reporter", """
        def initialize(self, config):
            self.candles = 0
            self.trades = 0

        def on_candle(self, candle):
            self.candles += 1

        def on_trade(self, trade):
            self.trades += 1

        def on_post_run(self, results):
            return {
                "metrics": {"candles": self.candles, "trades": self.trades, "results_trades": len(results.trades),
                            "equity_points": len(results.equity["equity"]), "nan": float("nan")},
                "artifacts": {"report.txt": f"{results.run_id} {results.status}", "blob.bin": bytes([0, 1, 255]),
                              "../escape.txt": "no"},
            }
    """)
    outcome = run(tmp_path, candles, ["reporter"], run_id="art")
    s = summary(outcome)
    assert s["status"] == "ok"
    n_trades = len(trades(outcome))
    assert s["plugin_metrics"]["reporter"] == {"candles": 3000.0, "trades": n_trades, "results_trades": n_trades,
                                               "equity_points": 3000.0, "nan": None}
    folder = tmp_path / "out" / "runs" / "art" / "artifacts" / "reporter"
    assert (folder / "report.txt").read_text() == "art ok"
    assert (folder / "blob.bin").read_bytes() == bytes([0, 1, 255])
    assert sorted(p.name for p in folder.iterdir()) == ["blob.bin", "report.txt"]
    assert not (tmp_path / "out" / "runs" / "escape.txt").exists()
    [w] = warnings_of(outcome, "reporter")
    assert w["code"] == "ARTIFACT_REFUSED" and "../escape.txt" in w["message"]


def test_on_error_fail_fails_the_run(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "strict", """
        def on_candle(self, candle):
            if candle.close > 0:
                raise ValueError("strict says no")
    """)
    outcome = run(tmp_path, candles, [{"name": "strict", "onError": "fail"}])
    s = summary(outcome)
    assert s["status"] == "failed"
    err = s["error"]
    assert err["code"] == "PLUGIN_ERROR" and err["plugin"] == "strict" and err["hook"] == "on_candle"
    assert "strict says no" in err["message"] and "onError" in err["hint"]


def test_a_feature_failing_to_initialize_is_skipped_under_continue(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "no-init", """
        def initialize(self, config):
            raise KeyError("missing")

        def on_post_run(self, results):
            return {"metrics": {"x": 1}}
    """)
    outcome = run(tmp_path, candles, ["no-init"])
    s = summary(outcome)
    assert s["status"] == "ok"
    [w] = warnings_of(outcome, "no-init")
    assert w["hook"] == "initialize" and w["code"] == "PLUGIN_ERROR"
    assert s["plugin_metrics"] == {}


def test_post_run_sees_a_failed_run(tmp_path: Path, candles: Path) -> None:
    make_feature(tmp_path / "features", "observer", """
        def on_post_run(self, results):
            return {"artifacts": {"status.txt": results.status}}
    """)
    outcome = run(tmp_path, candles, ["observer"], config={"fast": "not a number"})
    assert outcome.status == "failed"
    assert (outcome.run_dir / "artifacts" / "observer" / "status.txt").read_text() == "failed"  # type: ignore


def test_custom_metrics_against_hand_computation(tmp_path: Path, candles: Path) -> None:
    outcome = run(tmp_path, candles, [{"name": "custom-metrics", "config": {"annualize": False}}])
    s = summary(outcome)
    assert s["status"] == "ok", s["error"]
    m = s["plugin_metrics"]["custom-metrics"]
    pnl = [t["pnl"] for t in sorted(trades(outcome), key=lambda t: t["exit_time"])]
    wins, losses = [p for p in pnl if p > 0], [p for p in pnl if p < 0]
    assert m["expectancy"] == pytest.approx(sum(pnl) / len(pnl))
    assert m["avg_win"] == pytest.approx(sum(wins) / len(wins))
    assert m["avg_loss"] == pytest.approx(sum(losses) / len(losses))
    streak = best = 0
    for p in pnl:
        streak = streak + 1 if p < 0 else 0
        best = max(best, streak)
    assert m["longest_losing_streak"] == best
    eq = pq.read_table(outcome.run_dir / "equity.parquet")["equity"].to_numpy()  # type: ignore[operator]
    r = eq[1:] / eq[:-1] - 1
    assert m["sortino"] == pytest.approx(r.mean() / np.sqrt((np.minimum(r, 0) ** 2).mean()))
    held = sum((t["exit_time"] - t["entry_time"]).total_seconds() * 1000 for t in trades(outcome))
    assert m["time_in_market_pct"] == pytest.approx(100 * held / (2999 * MIN))


def test_cli_run_with_feature(tmp_path: Path, candles: Path) -> None:
    result = CliRunner().invoke(main, [
        "run", "--strategy", "sma-cross", "--candles", str(candles), "--feature", "custom-metrics",
        "--plugins-dir", str(REPO / "plugins"), "--out", str(tmp_path / "out"), "--run-id", "cli", "--json"])
    assert result.exit_code == 0, result.output
    s = json.loads((tmp_path / "out" / "runs" / "cli" / "summary.json").read_text())
    assert s["features"] == ["custom-metrics"]
    assert set(s["plugin_metrics"]["custom-metrics"]) >= {"sortino", "expectancy", "longest_losing_streak"}
