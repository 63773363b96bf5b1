"""The config manager: files, named configs, env overrides, defaults, every error, local $refs only."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MakePlugin
from plughost.errors import ConfigError
from plughost.plugins.config import (
    default_config,
    env_overrides,
    load_config_file,
    resolve_config,
    schema_diagnostics,
)
from plughost.plugins.registry import PluginEntry, Registry
from registry_helpers import manifest

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "fast": {"type": "integer", "minimum": 1, "default": 5},
        "slow": {"type": "integer", "minimum": 2, "default": 20},
        "mode": {"$ref": "#/$defs/mode"},
        "risk": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "stop_pct": {"type": "number", "exclusiveMinimum": 0, "default": 2.0},
                "trail": {"type": "boolean", "default": False},
            },
        },
        "shared": {"$ref": "schemas/common.json#/$defs/shared"},
        "symbols": {"type": "array", "items": {"type": "string"}},
    },
    "$defs": {"mode": {"enum": ["long", "flat"], "default": "long"}},
}
COMMON = {"$defs": {"shared": {"type": "object", "properties": {"lookback": {"type": "integer", "default": 50}}}}}
DEFAULTS = {
    "fast": 5,
    "slow": 20,
    "mode": "long",
    "risk": {"stop_pct": 2.0, "trail": False},
    "shared": {"lookback": 50},
}


@pytest.fixture
def entry(tmp_path: Path, make_plugin: MakePlugin) -> PluginEntry:
    make_plugin(
        tmp_path / "plugins" / "sma-cross",
        manifest("sma-cross", configSchema="schema.json"),
        files={
            "schema.json": json.dumps(SCHEMA),
            "schemas/common.json": json.dumps(COMMON),
            "configs/aggressive.toml": "fast = 2\nslow = 8\n[risk]\nstop_pct = 5.0\n",
            "configs/calm.json": json.dumps({"fast": 10, "slow": 50}),
        },
    )
    return Registry.discover([tmp_path / "plugins"]).get("sma-cross")


def test_defaults_are_applied_recursively_and_through_refs(entry: PluginEntry) -> None:
    assert default_config(entry) == DEFAULTS
    assert resolve_config(entry) == DEFAULTS
    assert resolve_config(entry, {"risk": {"trail": True}})["risk"] == {"stop_pct": 2.0, "trail": True}


def test_config_from_dict_json_and_toml_files(entry: PluginEntry, tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"fast": 3}))
    (tmp_path / "c.toml").write_text("fast = 4\n[risk]\ntrail = true\n")
    assert resolve_config(entry, {"fast": 2})["fast"] == 2
    assert resolve_config(entry, tmp_path / "c.json")["fast"] == 3
    cfg = resolve_config(entry, "c.toml", base_dir=tmp_path)
    assert cfg["fast"] == 4 and cfg["risk"] == {"stop_pct": 2.0, "trail": True}
    assert load_config_file(tmp_path / "c.toml") == {"fast": 4, "risk": {"trail": True}}


def test_named_configs_by_name(entry: PluginEntry) -> None:
    cfg = resolve_config(entry, name="aggressive")
    assert (cfg["fast"], cfg["slow"], cfg["risk"]["stop_pct"]) == (2, 8, 5.0)
    assert resolve_config(entry, "calm")["slow"] == 50  # a bare word that is no file: a named config
    # the given config overrides the named one
    assert resolve_config(entry, {"fast": 7}, name="aggressive")["fast"] == 7
    with pytest.raises(ConfigError) as err:
        resolve_config(entry, name="agressive")
    assert "aggressive" in str(err.value) and err.value.plugin == "sma-cross"
    with pytest.raises(ConfigError):
        resolve_config(entry, name="../schema")


def test_env_overrides(entry: PluginEntry) -> None:
    env = {
        "PLUGHOST_CFG_SMA_CROSS__FAST": "9",
        "PLUGHOST_CFG_SMA_CROSS__RISK__STOP_PCT": "0.5",
        "PLUGHOST_CFG_SMA_CROSS__MODE": "flat",  # not JSON: taken as a string
        "PLUGHOST_CFG_SMA_CROSS__SYMBOLS": '["BTC", "ETH"]',
        "PLUGHOST_CFG_OTHER__FAST": "1",
    }
    cfg = resolve_config(entry, {"fast": 3}, name="aggressive", env=env)
    assert cfg["fast"] == 9 and cfg["risk"]["stop_pct"] == 0.5 and cfg["mode"] == "flat"
    assert cfg["symbols"] == ["BTC", "ETH"]
    assert env_overrides("sma-cross", {"PLUGHOST_CFG_SMA_CROSS__NEW_KEY": "true"}) == {"new_key": True}


def test_three_errors_are_all_reported_with_paths(entry: PluginEntry) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_config(entry, {"fast": 0, "mode": "short", "risk": {"stop_pct": "high"}})
    problems = err.value.problems
    assert len(problems) == 3, problems
    assert [p.split(":")[0] for p in problems] == ["/fast", "/mode", "/risk/stop_pct"]
    assert err.value.code == "CONFIG_INVALID" and err.value.to_dict()["problems"] == problems
    assert "sma-cross" in str(err.value)


def test_misspelled_key_names_the_known_keys(entry: PluginEntry) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_config(entry, {"fats": 3, "risk": {"stop_pc": 1.0}})
    first, second = err.value.problems
    assert first.startswith("/fats: unknown key 'fats' (did you mean 'fast'?)")
    assert "known keys: fast, mode, risk, shared, slow, symbols" in first
    assert second.startswith("/risk/stop_pc:") and "stop_pct" in second


def test_bad_config_files(entry: PluginEntry, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "bad.toml").write_text("x = ")
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "c.yaml").write_text("a: 1")
    for name in ("bad.json", "bad.toml", "list.json", "c.yaml", "missing.json"):
        with pytest.raises(ConfigError):
            resolve_config(entry, tmp_path / name)


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        _Recorder.requests.append(self.path)
        body = json.dumps({"type": "integer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Recorder.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_remote_and_file_refs_are_refused_never_fetched(
    tmp_path: Path, make_plugin: MakePlugin, http_server: str
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"type": "string"}))
    schema = {
        "type": "object",
        "properties": {
            "a": {"$ref": f"{http_server}/schema.json"},
            "b": {"$ref": secret.as_uri()},
            "c": {"$ref": "../../secret.json"},
            "d": {"$ref": "missing.json"},
        },
    }
    make_plugin(
        tmp_path / "plugins" / "remote", manifest("remote", configSchema="s.json"), files={"s.json": json.dumps(schema)}
    )
    entry = Registry.discover([tmp_path / "plugins"]).get("remote")
    diags = schema_diagnostics(entry)
    by_pointer = {d.pointer: d for d in diags}
    assert set(by_pointer) == {"/properties/a/$ref", "/properties/b/$ref", "/properties/c/$ref", "/properties/d/$ref"}
    assert "remote $ref" in by_pointer["/properties/a/$ref"].message
    assert "file: $ref" in by_pointer["/properties/b/$ref"].message
    assert "leaves the plugin folder" in by_pointer["/properties/c/$ref"].message
    assert "does not resolve" in by_pointer["/properties/d/$ref"].message
    with pytest.raises(ConfigError) as err:
        resolve_config(entry, {"a": 1, "b": "x"})
    assert len(err.value.problems) == 4
    # the validator itself, reaching the refs, refuses too (the retrieve function never fetches)
    from plughost.plugins.config import entry_schema

    ps = entry_schema(entry)
    assert ps is not None
    with pytest.raises(ConfigError):
        ps.problems({"a": 1})
    assert _Recorder.requests == []


def test_schema_with_absolute_id_cannot_make_relative_refs_remote(
    tmp_path: Path, make_plugin: MakePlugin, http_server: str
) -> None:
    schema = {"$id": f"{http_server}/root.json", "properties": {"a": {"$ref": "other.json"}}}
    make_plugin(
        tmp_path / "plugins" / "idp",
        manifest("idp", configSchema="s.json"),
        files={"s.json": json.dumps(schema), "other.json": "{}"},
    )
    entry = Registry.discover([tmp_path / "plugins"]).get("idp")
    # the plugin's own $id is replaced by a local base: other.json resolves inside the folder
    assert schema_diagnostics(entry) == []
    assert resolve_config(entry, {"a": 1}) == {"a": 1}
    assert _Recorder.requests == []


def test_invalid_json_schema_is_reported(tmp_path: Path, make_plugin: MakePlugin) -> None:
    make_plugin(
        tmp_path / "plugins" / "bad-schema",
        manifest("bad-schema", configSchema="s.json"),
        files={"s.json": json.dumps({"type": "nonsense", "properties": {"x": {"minimum": "one"}}})},
    )
    entry = Registry.discover([tmp_path / "plugins"]).get("bad-schema")
    diags = schema_diagnostics(entry)
    assert {d.pointer for d in diags} == {"/type", "/properties/x/minimum"}
    assert all(d.check == "config-schema" for d in diags)


def test_plugin_without_schema_passes_config_through(tmp_path: Path, make_plugin: MakePlugin) -> None:
    make_plugin(tmp_path / "plugins" / "free", manifest("free"))
    entry = Registry.discover([tmp_path / "plugins"]).get("free")
    env = {"PLUGHOST_CFG_FREE__X__Y": "1"}
    assert resolve_config(entry, {"a": [1]}, env=env) == {"a": [1], "x": {"y": 1}}
    assert default_config(entry) == {}
