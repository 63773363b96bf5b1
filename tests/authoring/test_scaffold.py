"""`plughost new-plugin`: every scaffold validates and runs end to end as it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from plughost.cli.scaffold import _workspace_root, class_name, create_plugin
from plughost.errors import UsageError

from .conftest import CANDLES, REPO, Cli, build_typescript


def _run_args(plugin: Path, kind: str, out: Path) -> list[str | Path]:
    roots: list[str | Path] = ["--plugins-dir", plugin.parent]
    if kind == "strategy":
        return ["run", "--strategy", plugin.name, "--candles", CANDLES, "--out", out, "--json", *roots]
    return ["run", "--strategy", "sma-cross", "--feature", plugin.name, "--candles", CANDLES, "--out", out,
            "--json", "--plugins-dir", REPO / "plugins", *roots]


def _validate_and_run(cli: Cli, plugin: Path, kind: str, tmp_path: Path) -> dict[str, object]:
    checked = cli("validate-plugin", plugin, "--json")
    assert checked.exit_code == 0, checked.output + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"] is True and report["warnings"] == 0
    assert "trial-run" in report["checks"]
    ran = cli(*_run_args(plugin, kind, tmp_path / "out"))
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    summary: dict[str, object] = json.loads(ran.stdout)
    assert summary["status"] == "ok"
    return summary


@pytest.mark.parametrize("kind", ["strategy", "feature"])
def test_python_scaffold_validates_and_runs(kind: str, scaffold: Callable[..., Path], cli: Cli,
                                            tmp_path: Path) -> None:
    plugin = scaffold(f"my-{kind}", type=kind)
    entry = "strategy.py" if kind == "strategy" else "feature.py"
    assert sorted(p.name for p in plugin.iterdir()) == sorted(["plugin.json", "config.schema.json", entry,
                                                               "README.md"])
    summary = _validate_and_run(cli, plugin, kind, tmp_path)
    metrics = summary["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["num_trades"] > 0  # the template strategy trades; the feature watches sma-cross trade
    if kind == "strategy":
        assert summary["config"] == {"lookback": 20, "threshold_pct": 0.0, "fraction": 0.95}  # schema defaults
    else:
        plugin_metrics = summary["plugin_metrics"]
        assert isinstance(plugin_metrics, dict)
        assert plugin_metrics["my-feature"]["trades_seen"] == metrics["num_trades"]


@pytest.mark.node
@pytest.mark.parametrize("kind", ["strategy", "feature"])
def test_typescript_scaffold_builds_validates_and_runs(kind: str, scaffold: Callable[..., Path], cli: Cli,
                                                       tmp_path: Path) -> None:
    plugin = scaffold(f"ts-{kind}", type=kind, language="typescript")
    package = json.loads((plugin / "package.json").read_text())
    dependency = package["dependencies"]["@plughost/sdk"]
    assert dependency.startswith("file:") and (plugin / dependency[5:]).resolve() == REPO / "sdk-typescript"
    assert (plugin / "tsconfig.json").is_file() and (plugin / ".gitignore").is_file()
    build_typescript(plugin)
    assert (plugin / "dist" / "index.js").is_file()
    summary = _validate_and_run(cli, plugin, kind, tmp_path)
    metrics = summary["metrics"]
    assert isinstance(metrics, dict) and metrics["num_trades"] > 0


@pytest.mark.node
def test_typescript_and_python_strategy_templates_agree(scaffold: Callable[..., Path], cli: Cli,
                                                        tmp_path: Path) -> None:
    """The two strategy templates implement one rule, so a user switching language sees the same trades."""
    py = scaffold("twin-py")
    ts = scaffold("twin-ts", language="typescript")
    build_typescript(ts)
    results = [_validate_and_run(cli, p, "strategy", tmp_path)["metrics"] for p in (py, ts)]
    assert results[0] == results[1]


def test_scaffold_prints_the_next_commands(cli: Cli, tmp_path: Path) -> None:
    done = cli("new-plugin", "first", "--dir", tmp_path / "mine")
    assert done.exit_code == 0, done.stderr
    assert f"plughost validate-plugin {Path('mine') / 'first'}" in done.stdout
    assert "plughost run --strategy first --candles data/sample/BTCUSD-1m.parquet --plugins-dir mine" in done.stdout


def test_default_dir_is_found_without_plugins_dir(cli: Cli, tmp_path: Path) -> None:
    done = cli("new-plugin", "first")
    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "plugins" / "strategies" / "first" / "plugin.json").is_file()
    assert "--plugins-dir" not in done.stdout  # ./plugins is the default search path
    assert cli("validate-plugin", "first", "--no-trial").exit_code == 0


def test_refuses_bad_names_existing_folders_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="not a valid plugin name"):
        create_plugin("My Strategy", "strategy", "python", tmp_path)
    create_plugin("taken", "strategy", "python", tmp_path / "plugins" / "strategies")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        create_plugin("taken", "strategy", "python", tmp_path / "plugins" / "strategies")
    with pytest.raises(UsageError, match="a plugin named 'taken' already exists"):  # found on ./plugins
        create_plugin("taken", "feature", "python", tmp_path / "plugins" / "features")


def test_class_names() -> None:
    assert class_name("my-cool.strategy") == "MyCoolStrategy"
    assert class_name("3bars") == "Plugin3bars"
    assert class_name("rsi_2") == "Rsi2"


def test_typescript_inside_the_repo_workspace_depends_on_the_sdk_version(tmp_path: Path) -> None:
    """In plugins/strategies/* of a workspace, `npm install` at the root links the SDK by version."""
    (tmp_path / "package.json").write_text(json.dumps({"workspaces": ["sdk-typescript", "plugins/strategies/*"]}))
    target = tmp_path / "plugins" / "strategies" / "x"
    assert _workspace_root(target) == tmp_path
    assert _workspace_root(tmp_path / "elsewhere" / "x") is None
    # the real repository: its workspace covers the default scaffold folders
    assert _workspace_root(REPO / "plugins" / "strategies" / "new-one") == REPO
    assert _workspace_root(REPO / "plugins" / "features" / "new-one") == REPO
