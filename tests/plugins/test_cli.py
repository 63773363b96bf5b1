"""The plugin commands through click's runner: stdout, stderr and exit codes checked separately."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import BROKEN, GOOD, MakePlugin
from plughost.cli.plugins import register
from registry_helpers import manifest


def _group() -> click.Group:
    try:  # the real main group, once it exists
        from plughost.cli import main

        if isinstance(main, click.Group) and "list-plugins" in main.commands:
            return main
    except ImportError:
        pass

    @click.group()
    def local() -> None:
        """A stand-in for the `plughost` group."""

    register(local)
    return local


def run(*args: str) -> Result:
    return CliRunner().invoke(_group(), list(args), catch_exceptions=False)


def test_list_plugins_table(mixed_root: Path) -> None:
    r = run("list-plugins", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "type", "language", "version", "enabled", "valid"]
    row = next(line for line in lines if line.startswith("good-b "))
    assert row.split()[:6] == ["good-b", "strategy", "python", "2.1.0", "yes", "yes"]
    passwd = next(line for line in lines if line.startswith("passwd "))
    assert " no " in passwd and "/entry" in passwd and "'..'" in passwd


def test_list_plugins_json_and_type(mixed_root: Path) -> None:
    r = run("list-plugins", "--json", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 0 and r.stderr == ""
    data = json.loads(r.stdout)
    assert sorted(p["name"] for p in data["plugins"] if p["valid"]) == sorted(GOOD)
    assert len(data["plugins"]) == len(GOOD) + len(BROKEN)
    broken = next(p for p in data["plugins"] if p["name"] == "no-entry")
    assert broken["diagnostics"][0]["pointer"] == "/entry"
    r = run("list-plugins", "--json", "--type", "feature", "--plugins-dir", str(mixed_root))
    assert [p["name"] for p in json.loads(r.stdout)["plugins"]] == ["counter"]


def test_list_plugins_empty_and_usage_errors(tmp_path: Path) -> None:
    r = run("list-plugins", "--plugins-dir", str(tmp_path))
    assert r.exit_code == 0 and r.stdout == "" and "no plugins found" in r.stderr
    r = run("list-plugins", "--plugins-dir", str(tmp_path / "missing"))
    assert r.exit_code == 2 and r.stdout == "" and "does not exist" in r.stderr
    r = run("list-plugins", "--type", "indicator")
    assert r.exit_code == 2 and r.stdout == ""


def test_validate_plugin_invalid_exit_1(mixed_root: Path) -> None:
    r = run("validate-plugin", "passwd", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 1 and r.stderr == ""
    assert "INVALID: 1 error" in r.stdout and "path-escape" in r.stdout and "/entry" in r.stdout
    r = run("validate-plugin", str(mixed_root / "strategies" / "twin-1"), "--json", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["valid"] is False and data["diagnostics"][0]["check"] == "duplicate-name"


def test_validate_plugin_valid_exit_0(tmp_path: Path, make_plugin: MakePlugin, no_leftover_processes: None) -> None:
    make_plugin(tmp_path / "p" / "ok", manifest("ok"))
    r = run("validate-plugin", "ok", "--plugins-dir", str(tmp_path / "p"))
    assert r.exit_code == 0, r.output
    assert "plugin 'ok'" in r.stdout and ": valid" in r.stdout and "trial-run" in r.stdout and r.stderr == ""
    r = run("validate-plugin", "ok", "--json", "--no-trial", "--plugins-dir", str(tmp_path / "p"))
    assert r.exit_code == 0 and json.loads(r.stdout)["spawned"] is False


def test_validate_plugin_unknown_exit_2(mixed_root: Path) -> None:
    r = run("validate-plugin", "good-c", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 2 and r.stdout == ""
    assert "no plugin named 'good-c'" in r.stderr and "good-a" in r.stderr
    r = run("validate-plugin", "./not/a/plugin", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 2 and "not a plugin folder" in r.stderr


def test_enable_disable(mixed_root: Path, plughost_home: Path) -> None:
    r = run("disable-plugin", "good-a", "--plugins-dir", str(mixed_root))
    assert (r.exit_code, r.stdout.strip(), r.stderr) == (0, "plugin 'good-a' disabled", "")
    r = run("disable-plugin", "good-a", "--plugins-dir", str(mixed_root))
    assert r.stdout.strip() == "plugin 'good-a' was already disabled"
    listed = json.loads(run("list-plugins", "--json", "--plugins-dir", str(mixed_root)).stdout)
    assert next(p for p in listed["plugins"] if p["name"] == "good-a")["enabled"] is False
    assert (plughost_home / "state.json").is_file()
    r = run("enable-plugin", "good-a", "--plugins-dir", str(mixed_root))
    assert (r.exit_code, r.stdout.strip()) == (0, "plugin 'good-a' enabled")
    r = run("enable-plugin", "good-aa", "--plugins-dir", str(mixed_root))
    assert r.exit_code == 2 and r.stdout == "" and "good-a" in r.stderr


@pytest.mark.parametrize("command", ["list-plugins", "validate-plugin", "enable-plugin", "disable-plugin"])
def test_help_teaches_with_an_example(command: str) -> None:
    r = run(command, "--help")
    assert r.exit_code == 0
    assert "Example" in r.stdout and f"plughost {command}" in r.stdout and "--plugins-dir" in r.stdout
