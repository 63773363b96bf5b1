"""validate_plugin: every problem, nothing spawned for path escapes, and the spawned checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MakePlugin
from plughost.errors import InterfaceMismatch, PluginSpawnFailed
from plughost.plugins.loader import load_plugin, preflight
from plughost.plugins.registry import Registry
from plughost.plugins.validator import validate_plugin
from registry_helpers import manifest


class RefusingSpawner:
    """A Spawner that records every start it is asked for and refuses it (the validation then fails)."""

    warm = False

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def spawn(self, spec: Any, **kwargs: Any) -> Any:
        self.calls.append(spec)
        raise AssertionError("a plugin process was spawned")

    def close(self) -> None:
        pass


@pytest.fixture
def forbid_spawn() -> RefusingSpawner:
    return RefusingSpawner()


def checks(report: Any) -> list[tuple[str, str | None]]:
    return [(d.check, d.code) for d in report.errors]


@pytest.mark.parametrize("folder", ["passwd", "symlinked"])
def test_path_escape_is_refused_before_anything_is_spawned(
    mixed_root: Path, forbid_spawn: RefusingSpawner, folder: str
) -> None:
    report = validate_plugin(str(mixed_root / "strategies" / folder), roots=[mixed_root], spawner=forbid_spawn)
    assert not report.ok and not report.spawned and forbid_spawn.calls == []
    assert checks(report) == [("path-escape", None)]
    assert report.errors[0].pointer == "/entry"
    entry = Registry.discover([mixed_root]).lookup(folder)
    with pytest.raises(Exception, match="refused"):
        load_plugin(entry, spawner=forbid_spawn)
    assert forbid_spawn.calls == []


def test_static_problems_are_all_reported(
    tmp_path: Path, make_plugin: MakePlugin, forbid_spawn: RefusingSpawner
) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 5, "default": 1}, "r": {"$ref": "https://x.test/s"}},
        "required": ["must"],
    }
    make_plugin(
        tmp_path / "plugins" / "many",
        {**manifest("many", configSchema="s.json", dependencies=["ghost"]), "colour": 1},
        files={"s.json": json.dumps(schema)},
    )
    report = validate_plugin("many", roots=[tmp_path / "plugins"], spawner=forbid_spawn)
    assert forbid_spawn.calls == []
    assert [d.check for d in report.errors] == ["manifest-schema"]  # manifest unusable: stop there
    (tmp_path / "plugins" / "many" / "plugin.json").write_text(
        json.dumps(manifest("many", configSchema="s.json", dependencies=["ghost"]))
    )
    report = validate_plugin("many", roots=[tmp_path / "plugins"], trial=False)
    found = sorted(d.check for d in report.errors)
    assert found == ["config-ref", "dependencies"], report.diagnostics
    (tmp_path / "plugins" / "many" / "s.json").write_text(
        json.dumps({**schema, "properties": {"n": schema["properties"]["n"]}})
    )
    report = validate_plugin("many", roots=[tmp_path / "plugins"], trial=False)
    found = sorted((d.check, d.pointer) for d in report.errors)
    assert found == [("default-config", ""), ("default-config", "/n"), ("dependencies", "/dependencies/0")]


def test_typescript_without_build_says_npm_run_build(
    tmp_path: Path, make_plugin: MakePlugin, forbid_spawn: RefusingSpawner
) -> None:
    make_plugin(
        tmp_path / "plugins" / "ts",
        manifest("ts", language="typescript", entry="./dist/index.js"),
        files={"src/index.ts": "export default {}\n"},
    )
    report = validate_plugin("ts", roots=[tmp_path / "plugins"], spawner=forbid_spawn)
    assert not report.ok and forbid_spawn.calls == []
    assert "npm run build" in report.errors[0].message
    entry = Registry.discover([tmp_path / "plugins"]).lookup("ts")
    with pytest.raises(PluginSpawnFailed) as err:
        preflight(entry)
    assert "npm run build" in str(err.value) and err.value.plugin == "ts"


# ------------------------------------------------------------------------------- spawned plugins


def _plugin(tmp_path: Path, make_plugin: MakePlugin, name: str, source: str, **over: Any) -> Path:
    make_plugin(tmp_path / "plugins" / name, manifest(name, **over), source=source)
    return tmp_path / "plugins"


def test_valid_python_strategy(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = _plugin(tmp_path, make_plugin, "good", "good_strategy")
    report = validate_plugin("good", roots=[root])
    assert report.ok, report.diagnostics
    assert report.spawned and "trial-run" in report.checks


def test_valid_feature(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = _plugin(tmp_path, make_plugin, "count", "good_feature", type="feature")
    report = validate_plugin("count", roots=[root])
    assert report.ok, report.diagnostics


def test_strategy_missing_on_candle(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = _plugin(tmp_path, make_plugin, "lazy", "no_on_candle")
    report = validate_plugin("lazy", roots=[root])
    assert checks(report) == [("interface", "INTERFACE_MISMATCH")]
    assert "lazy" in report.errors[0].message and "on_candle" in report.errors[0].message
    entry = Registry.discover([root]).get("lazy")
    with pytest.raises(InterfaceMismatch) as err:
        load_plugin(entry)
    assert err.value.plugin == "lazy"


def test_handshake_mismatch(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = tmp_path / "plugins"
    make_plugin(
        root / "named",
        manifest("named"),
        files={
            "main.py": "from plughost_sdk import StrategyPlugin\n\n"
            "class S(StrategyPlugin):\n    name = 'other'\n    version = '9.9.9'\n"
            "    def on_candle(self, candle, ctx):\n        return None\n"
        },
    )
    report = validate_plugin("named", roots=[root])
    assert checks(report) == [("interface", "PLUGIN_HANDSHAKE_FAILED")]
    assert "'other'" in report.errors[0].message and "'9.9.9'" in report.errors[0].message


def test_crash_in_trial_run(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = _plugin(tmp_path, make_plugin, "crash", "crash_in_trial")
    report = validate_plugin("crash", roots=[root])
    assert checks(report) == [("trial-run", "PLUGIN_CRASHED")]
    assert "crash" in report.errors[0].message


def test_hang_in_trial_run(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = _plugin(tmp_path, make_plugin, "hang", "hang_in_trial")
    report = validate_plugin("hang", roots=[root], call_timeout=1.0)
    assert checks(report) == [("trial-run", "PLUGIN_TIMEOUT")]


def test_malformed_signal_in_trial_run(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    root = _plugin(tmp_path, make_plugin, "bad", "bad_signal")
    report = validate_plugin("bad", roots=[root])
    assert not report.ok
    assert report.errors[0].check == "trial-run"
    assert report.errors[0].code in ("PLUGIN_ERROR", "PLUGIN_PROTOCOL_ERROR")
