"""Discovery: a broken plugin never stops a scan; cache; enable/disable state; lookup errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import BROKEN, GOOD, MakePlugin
from plughost.errors import ManifestError, PluginDisabled, PluginNotFound
from plughost.plugins.registry import CACHE_FILE, STATE_FILE, Registry, resolve_roots
from registry_helpers import manifest


def test_scan_lists_valid_plugins_and_a_diagnostic_for_each_broken_one(mixed_root: Path) -> None:
    reg = Registry.discover([mixed_root])
    valid = sorted(e.name for e in reg.list() if e.valid)
    assert valid == sorted(GOOD)
    by_folder = {e.path.name: e for e in reg.list()}
    assert set(by_folder) == set(GOOD) | set(BROKEN)
    for folder, check in BROKEN.items():
        entry = by_folder[folder]
        assert not entry.valid, folder
        diag = next(d for d in entry.diagnostics if d.is_error)
        assert diag.check == check, (folder, entry.diagnostics)
        assert diag.file == str(entry.path / "plugin.json")
        assert diag.pointer is not None


def test_specific_diagnostics(mixed_root: Path) -> None:
    reg = Registry.discover([mixed_root])
    by_folder = {e.path.name: e for e in reg.list()}
    assert by_folder["no-entry"].errors[0].pointer == "/entry"
    assert "missing required key 'entry'" in by_folder["no-entry"].errors[0].message
    assert by_folder["wrong-type"].errors[0].pointer == "/type"
    assert by_folder["unknown-key"].errors[0].pointer == "/colour"
    assert by_folder["passwd"].errors[0].pointer == "/entry" and "'..'" in by_folder["passwd"].errors[0].message
    assert "symlink" in by_folder["symlinked"].errors[0].message
    assert by_folder["bad-name"].errors[0].pointer == "/name"
    assert by_folder["invalid-json"].errors[0].pointer == ""
    # duplicates: both refused, each naming the other's path
    t1, t2 = by_folder["twin-1"], by_folder["twin-2"]
    assert str(t2.path) in t1.errors[0].message and str(t1.path) in t2.errors[0].message


def test_duplicate_lookup_names_both_paths(mixed_root: Path) -> None:
    reg = Registry.discover([mixed_root])
    with pytest.raises(ManifestError) as err:
        reg.get("twin")
    assert "twin-1" in str(err.value) and "twin-2" in str(err.value)


def test_types_are_listed_separately(mixed_root: Path) -> None:
    reg = Registry.discover([mixed_root])
    assert [e.name for e in reg.list("feature")] == ["counter"]
    assert "good-a" in [e.name for e in reg.list("strategy")]


def test_unknown_name_suggests_close_names(mixed_root: Path) -> None:
    reg = Registry.discover([mixed_root])
    with pytest.raises(PluginNotFound) as err:
        reg.get("good-c")
    assert "good-a" in str(err.value) and "list-plugins" in str(err.value)
    assert err.value.plugin == "good-c"


def test_invalid_plugin_cannot_be_got(mixed_root: Path) -> None:
    reg = Registry.discover([mixed_root])
    with pytest.raises(ManifestError) as err:
        reg.get("passwd")
    assert "passwd" in str(err.value) and "validate-plugin" in str(err.value)


def test_enable_disable_persists_across_invocations(mixed_root: Path, plughost_home: Path) -> None:
    reg = Registry.discover([mixed_root])
    assert reg.disable("good-a") is True
    assert reg.disable("good-a") is False
    state = json.loads((plughost_home / STATE_FILE).read_text())
    assert state["disabled"] == ["good-a"]
    again = Registry.discover([mixed_root])  # a new invocation
    assert again.lookup("good-a").enabled is False
    with pytest.raises(PluginDisabled) as err:
        again.get_runnable("good-a")
    assert "plughost enable-plugin good-a" in str(err.value)
    again.enable("good-a")
    assert Registry.discover([mixed_root]).get_runnable("good-a").name == "good-a"
    assert not list(plughost_home.glob(".state.json.*.tmp"))  # atomic writes leave no temp file


def test_enable_unknown_plugin_is_not_found(mixed_root: Path) -> None:
    with pytest.raises(PluginNotFound):
        Registry.discover([mixed_root]).disable("nope")


def test_roots_from_flags_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert resolve_roots([a, b], env={}) == [a, b]
    assert resolve_roots(None, env={"PLUGHOST_PLUGIN_PATH": f"{a}:{b}:"}) == [a, b]
    assert resolve_roots(["x"], env={"PLUGHOST_PLUGIN_PATH": str(a)}, cwd=tmp_path) == [tmp_path / "x"]
    assert resolve_roots(None, env={}, cwd=tmp_path) == [tmp_path / "plugins"]


def test_env_plugin_path_and_layouts(tmp_path: Path, make_plugin: MakePlugin, monkeypatch: pytest.MonkeyPatch) -> None:
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    make_plugin(r1 / "flat", manifest("flat"))
    make_plugin(r2 / "group" / "nested", manifest("nested"))
    make_plugin(r2 / "group" / "nested" / "deeper" / "too-deep", manifest("too-deep"))
    monkeypatch.setenv("PLUGHOST_PLUGIN_PATH", f"{r1}:{r2}:{tmp_path / 'missing'}")
    reg = Registry.discover()
    assert reg.names() == ["flat", "nested"]


def test_same_folder_through_two_roots_is_not_a_duplicate(tmp_path: Path, make_plugin: MakePlugin) -> None:
    make_plugin(tmp_path / "p" / "strategies" / "one", manifest("one"))
    reg = Registry.discover([tmp_path / "p", tmp_path / "p" / "strategies"])
    assert [e.valid for e in reg.list()] == [True]


def test_cache_is_used_and_invalidated(tmp_path: Path, make_plugin: MakePlugin, plughost_home: Path) -> None:
    root = tmp_path / "plugins"
    p = make_plugin(root / "c", manifest("c", version="1.0.0"))
    Registry.discover([root])
    cache = json.loads((plughost_home / CACHE_FILE).read_text())
    assert str(p) in cache["plugins"]
    # a cache entry is trusted while the stats match: prove it by tampering with the cached record
    cache["plugins"][str(p)]["manifest"]["description"] = "from cache"
    (plughost_home / CACHE_FILE).write_text(json.dumps(cache))
    assert Registry.discover([root]).lookup("c").manifest.description == "from cache"  # type: ignore[union-attr]
    # editing the manifest invalidates
    time.sleep(0.01)
    (p / "plugin.json").write_text(json.dumps(manifest("c", version="1.1.0")))
    entry = Registry.discover([root]).lookup("c")
    assert entry.version == "1.1.0" and entry.manifest.description is None  # type: ignore[union-attr]
    # changing the entry file invalidates too
    cache = json.loads((plughost_home / CACHE_FILE).read_text())
    cache["plugins"][str(p)]["manifest"]["description"] = "stale"
    (plughost_home / CACHE_FILE).write_text(json.dumps(cache))
    (p / "main.py").write_text((p / "main.py").read_text() + "\n# edited\n")
    assert Registry.discover([root]).lookup("c").manifest.description is None  # type: ignore[union-attr]


def test_path_checks_are_never_served_from_cache(tmp_path: Path, make_plugin: MakePlugin) -> None:
    root = tmp_path / "plugins"
    p = make_plugin(root / "s", manifest("s", entry="code.py"), files={"code.py": "x = 1\n"})
    assert Registry.discover([root]).lookup("s").valid
    outside = tmp_path / "evil.py"
    outside.write_text("x = 1\n")
    st = os.stat(p / "code.py")
    (p / "code.py").unlink()
    os.symlink(outside, p / "code.py")
    os.utime(outside, ns=(st.st_atime_ns, st.st_mtime_ns))
    entry = Registry.discover([root]).lookup("s")
    assert not entry.valid and entry.errors[0].check == "path-escape"


def test_corrupt_cache_is_ignored(mixed_root: Path, plughost_home: Path) -> None:
    (plughost_home / "cache").mkdir(parents=True)
    (plughost_home / CACHE_FILE).write_text("{garbage")
    reg = Registry.discover([mixed_root])
    assert sorted(e.name for e in reg.list() if e.valid) == sorted(GOOD)


def test_corrupt_state_fails_closed(mixed_root: Path, plughost_home: Path) -> None:
    """A corrupt state.json must not silently re-enable the plugins it disabled (issue 15)."""
    from plughost.errors import StateError

    plughost_home.mkdir(parents=True, exist_ok=True)
    for bad in ("[1, 2", '{"disabled": "x"}', "[" * 5000):
        (plughost_home / STATE_FILE).write_text(bad)
        with pytest.raises(StateError) as info:
            Registry.discover([mixed_root])
        assert info.value.code == "STATE_INVALID" and "rm " in (info.value.hint or "")


def test_missing_dependency_is_flagged(tmp_path: Path, make_plugin: MakePlugin) -> None:
    root = tmp_path / "plugins"
    make_plugin(root / "base", manifest("base"))
    make_plugin(root / "needs", manifest("needs", dependencies=["base", "absent"]))
    entry = Registry.discover([root]).lookup("needs")
    assert [(d.check, d.pointer) for d in entry.errors] == [("dependencies", "/dependencies/1")]
