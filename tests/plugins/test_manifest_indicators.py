"""Indicators a strategy declares in plugin.json: checked at manifest load, in the schema, merged under
the run's, and used by validate-plugin's trial run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import MakePlugin
from plughost.errors import ManifestError
from plughost.indicators import merged_indicators, parse_indicators
from plughost.plugins.manifest import load_manifest, manifest_json_schema, parse_manifest_data
from plughost.plugins.registry import Registry
from plughost.plugins.validator import synthetic_batches, validate_plugin
from registry_helpers import manifest

GOOD = {"sma_10": {"type": "sma", "period": 10}, "bb": {"type": "bbands", "period": 20, "k": 2.5},
        "m": {"type": "macd"}}


def test_valid_indicators_are_kept() -> None:
    m, diags = parse_manifest_data(manifest("s", indicators=GOOD))
    assert m is not None and diags == []
    assert m.indicators == GOOD
    assert m.to_json()["indicators"] == GOOD
    assert "indicators" not in parse_manifest_data(manifest("s"))[0].to_json()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("indicators", "needle"),
    [
        ({"x": {"type": "vwap", "period": 3}}, "unknown type 'vwap'"),
        ({"x": {"type": "sma"}}, "'period' is required"),
        ({"x": {"type": "macd", "fast": 30}}, "'fast' (30) must be below 'slow' (26)"),
        ({"close": {"type": "sma", "period": 3}}, "clashes with a candle column"),
        ({"x": "sma"}, "valid dictionary"),
        (["sma"], "indicators"),
    ],
)
def test_bad_indicators_make_the_manifest_invalid(tmp_path: Path, indicators: Any, needle: str) -> None:
    m, diags = parse_manifest_data(manifest("s", indicators=indicators))
    assert m is None
    assert any(d.pointer is not None and d.pointer.startswith("/indicators") for d in diags), diags
    assert any("indicators" in str(d) and needle in str(d) for d in diags), diags
    (tmp_path / "plugin.json").write_text(json.dumps(manifest("s", indicators=indicators)))
    (tmp_path / "main.py").write_text("")
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)
    assert err.value.code == "MANIFEST_INVALID" and "indicators" in str(err.value)


def test_schema_agrees_with_the_model_on_indicators() -> None:
    validator = jsonschema.Draft202012Validator(manifest_json_schema())
    cases = [GOOD, {}, {"x": {"type": "sma", "period": 0}}, {"x": {"type": "sma", "period": 3, "len": 1}},
             {"x": {"period": 3}}, {"x": {"type": "ema", "period": 2.5}},
             {"x": {"type": "bbands", "period": 5, "k": 0}}]
    for ind in cases:
        case = manifest("s", indicators=ind)
        assert (parse_manifest_data(case)[0] is not None) == validator.is_valid(case), ind


def test_merged_indicators_run_wins() -> None:
    declared = {"fast": {"type": "sma", "period": 10}, "slow": {"type": "sma", "period": 50}}
    run = {"slow": {"type": "ema", "period": 40}, "r": {"type": "rsi", "period": 14}}
    merged = merged_indicators(declared, run)
    assert merged == {"fast": declared["fast"], "slow": run["slow"], "r": run["r"]}
    assert list(merged) == ["fast", "slow", "r"]
    assert merged_indicators(None, None) == {} and merged_indicators(declared, None) == declared
    assert [s.name for s in parse_indicators(merged)] == ["fast", "slow", "r"]


def test_registry_marks_a_plugin_with_bad_indicators_invalid(tmp_path: Path, make_plugin: MakePlugin) -> None:
    make_plugin(tmp_path / "plugins" / "bad", manifest("bad", indicators={"x": {"type": "nope", "period": 1}}),
                source="good_strategy")
    entry = Registry.discover([tmp_path / "plugins"]).lookup("bad")
    assert entry is not None and not entry.valid
    assert any("indicators" in d.message for d in entry.errors)


def test_synthetic_batches_carry_the_indicators() -> None:
    batches = synthetic_batches(indicators=GOOD)
    assert set(batches[0].indicators) == {"sma_10", "bb.upper", "bb.middle", "bb.lower", "m.line", "m.signal",
                                          "m.histogram"}
    assert all(len(v) == len(b.close) for b in batches for v in b.indicators.values())


STRICT = """from plughost_sdk import StrategyPlugin


class Strict(StrategyPlugin):
    name = "strict"
    version = "1.0.0"

    def on_candle(self, candle, ctx):
        # a strategy that trusts its declared indicators: a KeyError crashes it
        upper = ctx.indicators["bb.upper"]
        if upper == upper and candle.close > upper:
            return None
        return None
"""


def test_validate_plugin_trial_run_uses_declared_indicators(tmp_path: Path, make_plugin: MakePlugin,
                                                          no_leftover_processes: None) -> None:
    root = tmp_path / "plugins"
    make_plugin(root / "strict", manifest("strict", indicators={"bb": {"type": "bbands", "period": 20}}),
                files={"main.py": STRICT})
    report = validate_plugin("strict", roots=[root])
    assert report.ok, report.diagnostics
    assert "trial-run" in report.checks
    # the same strategy without the declaration fails its trial run
    (root / "strict" / "plugin.json").write_text(json.dumps(manifest("strict")))
    report = validate_plugin("strict", roots=[root])
    assert not report.ok and any(d.check == "trial-run" for d in report.errors)
