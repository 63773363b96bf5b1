"""The manifest's quick check (no pydantic) against the pydantic model: whatever the quick check accepts, the
model accepts with the same values; whatever it passes on, the model decides (the same answer either way)."""

from __future__ import annotations

from typing import Any

import pytest
from plughost.plugins.manifest import MANIFEST_KEYS, Manifest, _quick, parse_manifest_data
from plughost.plugins.manifest_model import PluginManifest
from pydantic import ValidationError
from registry_helpers import manifest

IND = {"fast": {"type": "sma", "period": 10}, "bb": {"type": "bbands", "period": 20, "k": 2.5}}

CASES: list[Any] = [
    manifest("ok"),
    manifest("ok", language="javascript", entry="./dist/index.js"),
    manifest("ok", language="typescript", entry="dist/index.js", configSchema="schema.json"),
    manifest("a.b_c-1", version="1.2.3-rc.1+build.5", dependencies=["other.plugin", "x"], description="d",
             author="a", type="feature"),
    manifest("ok", indicators=IND),
    {**manifest("ok"), "indicators": None, "configSchema": None, "description": None, "author": None},
    {**manifest("ok"), "indicators": {}, "dependencies": []},
    manifest("ok", dependencies=["dup", "dup"]),
    # refused, or not plainly valid: the model decides
    manifest("ok\n"), manifest("ok", version="1.0.0\n"), manifest("ok", version="1.0.\u0661"),
    manifest("\u0661ok"), manifest("Upper"), manifest("../x"), manifest("a" * 65), manifest("a" * 64),
    manifest("ok", version="1.0"), manifest("ok", version="01.0.0"), manifest("ok", type="indicator"),
    manifest("ok", type=True), manifest("ok", language="rust"), manifest("ok", entry=""),
    manifest("ok", entry=3), manifest("ok", configSchema=""), manifest("ok", dependencies=("x",)),
    manifest("ok", dependencies="x"), manifest("ok", dependencies=["Bad"]), manifest("ok", description=5),
    manifest("ok", author=["x"]), manifest("ok", indicators={"x": {"type": "vwap", "period": 3}}),
    manifest("ok", indicators={"x": "sma"}), manifest("ok", indicators=["sma"]),
    manifest("ok", indicators={"close": {"type": "sma", "period": 3}}),
    manifest("ok", indicators={"x": {"type": "sma", "period": 2.0}}),
    manifest("ok", indicators={"x": {"type": "sma", "period": True}}),
    manifest("ok", indicators={"x": {"type": "bbands", "period": 20, "k": None}}),
    {**manifest("ok"), "config_schema": "s.json"}, {**manifest("ok"), "extra": 1},
    {k: v for k, v in manifest("ok").items() if k != "entry"}, [], "plugin", None,
]


def _model(case: Any) -> PluginManifest | None:
    try:
        return PluginManifest.model_validate(case)
    except ValidationError:
        return None


def test_manifest_keys_are_the_models() -> None:
    assert tuple((f.alias or n) for n, f in PluginManifest.model_fields.items()) == MANIFEST_KEYS


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_the_quick_check_agrees_with_the_model(case: Any) -> None:
    quick, model = _quick(case), _model(case)
    if quick is not None:
        assert model is not None, case
        assert quick == Manifest(**model.model_dump())
        assert quick.to_json() == model.to_json() and list(quick.to_json()) == list(model.to_json())
        assert quick.to_dict() == model.model_dump()
    parsed, diags = parse_manifest_data(case)
    assert (parsed is not None) == (model is not None), case
    if model is not None:
        assert parsed == Manifest(**model.model_dump()) and diags == []
    else:
        assert diags and all(d.check == "manifest-schema" for d in diags)


def test_plainly_valid_manifests_take_the_quick_path() -> None:
    for case in CASES[:8]:
        assert _quick(case) is not None, case


def test_the_cache_round_trip_keeps_the_manifest() -> None:
    m = _quick(manifest("ok", indicators=IND, dependencies=["x"], configSchema="s.json"))
    assert m is not None and Manifest(**m.to_dict()) == m
