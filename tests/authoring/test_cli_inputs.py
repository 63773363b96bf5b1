"""Inputs a user types, checked where they are typed: a feature configured on a single run (`--feature-config`,
or `features` in `--config`), a sweep's grid keys against the strategy's schema before the batch starts,
and an environment override named by its variable."""

from __future__ import annotations

import json
from pathlib import Path

from plughost.batch.cli import check_grid_keys
from plughost.batch.spec import load_batch
from plughost.plugins.registry import Registry

from .conftest import CANDLES, REPO, Cli

PLUGINS = REPO / "plugins"


def _summary(out: Path) -> dict:
    return json.loads(next((out / "runs").glob("*/summary.json")).read_text())


def test_feature_config_for_a_single_run(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"metrics": ["expectancy"]}')
    done = cli("run", "--strategy", "sma-cross", "--candles", CANDLES, "--plugins-dir", PLUGINS,
               "--out", tmp_path / "out", "--feature", "custom-metrics",
               "--feature-config", "custom-metrics=metrics.json")
    assert done.exit_code == 0, done.stderr
    assert set(_summary(tmp_path / "out")["plugin_metrics"]["custom-metrics"]) == {"expectancy"}


def test_features_in_the_config_file(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({
        "fast": 5, "slow": 20, "features": [{"name": "custom-metrics", "config": {"metrics": ["avg_win"]}}]}))
    done = cli("run", "--strategy", "sma-cross", "--candles", CANDLES, "--plugins-dir", PLUGINS,
               "--out", tmp_path / "out", "--config", "run.json")
    assert done.exit_code == 0, done.stderr
    summary = _summary(tmp_path / "out")
    assert {"fast": 5, "slow": 20}.items() <= summary["config"].items() and "features" not in summary["config"]
    assert set(summary["plugin_metrics"]["custom-metrics"]) == {"avg_win"}
    # --feature-config refines a feature the config file attaches
    (tmp_path / "metrics.toml").write_text('metrics = ["expectancy", "avg_loss"]\n')
    done = cli("run", "--strategy", "sma-cross", "--candles", CANDLES, "--plugins-dir", PLUGINS,
               "--out", tmp_path / "out2", "--config", "run.json", "--feature-config", "custom-metrics=metrics.toml")
    assert done.exit_code == 0, done.stderr
    assert set(_summary(tmp_path / "out2")["plugin_metrics"]["custom-metrics"]) == {"expectancy", "avg_loss"}


def test_feature_config_mistakes_are_usage_errors(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"metrics": ["expectancy"]}')
    base = ("run", "--strategy", "sma-cross", "--candles", CANDLES, "--plugins-dir", PLUGINS, "--out", tmp_path / "o")
    done = cli(*base, "--feature-config", "custom-metrics=metrics.json")
    assert done.exit_code == 2
    assert "--feature-config names feature 'custom-metrics'" in done.stderr
    assert "--feature custom-metrics" in done.stderr
    done = cli(*base, "--feature", "custom-metrics", "--feature-config", "metrics.json")
    assert done.exit_code == 2 and "NAME=FILE" in done.stderr
    (tmp_path / "bad.json").write_text('{"metrix": ["expectancy"]}')
    done = cli(*base, "--feature", "custom-metrics", "--feature-config", "custom-metrics=bad.json")
    assert done.exit_code == 2 and "CONFIG_INVALID" in done.stderr and "'custom-metrics'" in done.stderr
    assert "metrix" in done.stderr


def test_grid_key_typo_stops_the_batch_before_it_starts(cli: Cli, tmp_path: Path) -> None:
    batch = tmp_path / "sweep.toml"
    batch.write_text(f'[[sweeps]]\nstrategy = "sma-cross"\ncandles = "{CANDLES}"\n'
                     "grid = { fsat = [5, 10], slow = [40], fee_bps = [0, 5] }\n")
    done = cli("run", "--batch", batch, "--plugins-dir", PLUGINS, "--out", tmp_path / "out")
    assert done.exit_code == 2, done.stderr
    assert "key 'grid.fsat'" in done.stderr and "did you mean 'fast'?" in done.stderr
    assert not (tmp_path / "out" / "runs").exists()  # nothing ran
    batch.write_text(batch.read_text().replace("fsat", "fast"))  # run keys such as fee_bps are valid grid keys
    check_grid_keys(load_batch(batch), Registry.discover([PLUGINS]))


def test_env_override_error_names_the_variable(cli: Cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PLUGHOST_CFG_SMA_CROSS__FAST", "quick")
    monkeypatch.setenv("PLUGHOST_CFG_SMA_CROSS__SLOWW", "30")
    done = cli("run", "--strategy", "sma-cross", "--candles", CANDLES, "--plugins-dir", PLUGINS,
               "--out", tmp_path / "out")
    assert done.exit_code == 2
    assert "/fast: 'quick' is not of type 'integer' (set by environment variable PLUGHOST_CFG_SMA_CROSS__FAST)" \
        in done.stderr
    assert "(set by environment variable PLUGHOST_CFG_SMA_CROSS__SLOWW)" in done.stderr
    assert "fix or unset PLUGHOST_CFG_SMA_CROSS__FAST, PLUGHOST_CFG_SMA_CROSS__SLOWW" in done.stderr
