"""plugin.json: the model, its committed JSON Schema, and path containment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from plughost.errors import ManifestError
from plughost.plugins.manifest import (
    SCHEMA_FILE,
    PluginManifest,
    check_paths,
    contained_path,
    load_manifest,
    manifest_json_schema,
    parse_manifest_data,
    read_manifest,
)
from registry_helpers import manifest


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == manifest_json_schema(), (
        "protocol/plugin.schema.json is out of date: run `python -m plughost.plugins.manifest`"
    )


def test_schema_is_valid_draft_2020_12_and_agrees_with_the_model() -> None:
    schema = manifest_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    cases = [
        manifest("ok"),
        manifest("ok", language="javascript", entry="dist/index.js"),
        manifest("ok", version="1.2.3-rc.1+build.5", dependencies=["other.plugin"], description="d", author="a"),
        manifest("../x"),
        manifest("Upper"),
        manifest("ok", version="1.0"),
        manifest("ok", type="indicator"),
        manifest("ok", language="rust"),
        {**manifest("ok"), "extra": 1},
        {k: v for k, v in manifest("ok").items() if k != "entry"},
    ]
    for case in cases:
        model_ok = parse_manifest_data(case)[0] is not None
        schema_ok = validator.is_valid(case)
        assert model_ok == schema_ok, case


@pytest.mark.parametrize(
    ("change", "pointer", "needle"),
    [
        ({"name": "../x"}, "/name", "invalid plugin name"),
        ({"name": "a" * 65}, "/name", "invalid plugin name"),
        ({"version": "v1"}, "/version", "semantic version"),
        ({"type": "indicator"}, "/type", "strategy"),
        ({"language": "go"}, "/language", "python"),
        ({"entry": None}, "/entry", "missing required key 'entry'"),
        ({"bogus": True}, "/bogus", "unknown key 'bogus'"),
        ({"dependencies": ["Not Valid"]}, "/dependencies/0", "invalid plugin name"),
    ],
)
def test_each_manifest_problem_has_a_pointer(change: dict[str, object], pointer: str, needle: str) -> None:
    data = {**manifest("p"), **change}
    data = {k: v for k, v in data.items() if v is not None}
    model, diags = parse_manifest_data(data, file="plugin.json")
    assert model is None
    assert [d.pointer for d in diags] == [pointer]
    assert needle in diags[0].message
    assert diags[0].file == "plugin.json"


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = {"name": "../x", "version": "x", "type": "t", "language": "l", "zzz": 1}
    _, diags = parse_manifest_data(data)
    assert {d.pointer for d in diags} == {"/name", "/version", "/type", "/language", "/entry", "/zzz"}


def test_invalid_json_is_a_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "plugin.json").write_text('{"name": "x",,}')
    raw, model, diags = read_manifest(tmp_path / "plugin.json")
    assert raw is None and model is None
    assert diags[0].check == "manifest-json" and "line 1" in diags[0].message


def test_javascript_language_is_accepted() -> None:
    m = PluginManifest.model_validate(manifest("js", language="javascript", entry="./dist/index.js"))
    assert m.language == "javascript"
    assert m.to_json()["entry"] == "./dist/index.js"


@pytest.mark.parametrize("value", ["../../etc/passwd", "/etc/passwd", "a/../../b.py", "~/x.py", "..\\x.py"])
def test_paths_leaving_the_folder_are_refused(tmp_path: Path, value: str) -> None:
    real, why = contained_path(tmp_path, value)
    assert real is None and why


def test_symlink_pointing_out_is_refused_and_inside_is_fine(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("")
    plugin = tmp_path / "p"
    plugin.mkdir()
    (plugin / "inner.py").write_text("")
    os.symlink(outside, plugin / "out.py")
    os.symlink(plugin / "inner.py", plugin / "alias.py")
    assert contained_path(plugin, "out.py")[0] is None
    assert contained_path(plugin, "alias.py")[0] == (plugin / "inner.py").resolve()
    m = PluginManifest.model_validate(manifest("p", entry="out.py", configSchema="alias.py"))
    diags = check_paths(m, plugin)
    assert [(d.check, d.pointer) for d in diags] == [("path-escape", "/entry")]


def test_load_manifest_raises_with_every_error(tmp_path: Path) -> None:
    (tmp_path / "plugin.json").write_text(json.dumps(manifest("p", entry="../x.py", configSchema="/abs.json")))
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)
    text = str(err.value)
    assert "/entry" in text and "/configSchema" in text and "validate-plugin" in text
    assert err.value.code == "MANIFEST_INVALID"


def test_typescript_missing_build_says_npm_run_build(tmp_path: Path) -> None:
    m = PluginManifest.model_validate(manifest("ts", language="typescript", entry="dist/index.js"))
    diags = check_paths(m, tmp_path)
    assert diags[0].check == "entry-missing" and "npm run build" in diags[0].message
