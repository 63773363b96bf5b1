"""The run config's and summary.json's quick paths (no pydantic) against their pydantic models: whatever a
quick path accepts, the model accepts with the same values and the same JSON; anything else is the
model's to judge, with its own messages."""

from __future__ import annotations

import math
from typing import Any

import pytest
from plughost.errors import ConfigError
from plughost.executor.runconfig import RunConfig, check_pre_run_change, quick_run_config
from plughost.executor.runconfig_model import RunConfigModel
from plughost.executor.summary import RunSummary
from plughost.executor.summary_check import _SUMMARY, _NotPlain, summary_record
from pydantic import ValidationError

BASE: dict[str, Any] = {"strategy": "s", "candles": "c.parquet"}
FULL: dict[str, Any] = {
    **BASE, "id": "r1", "alerts": "a.jsonl", "config": {"fast": 5, "nested": {"x": [1, 2.5, None, "t", True]}},
    "features": ["f1", {"name": "f2", "config": {"k": 1}, "priority": 3, "onError": "fail", "timeout": 5},
                 {"name": "f3", "on_error": "continue", "timeout": 2.5}],
    "size": 2, "size_mode": "fraction", "fee_bps": 5, "slippage_bps": 0, "leverage": 3.5, "fill_at": "close",
    "history": 50, "initial_capital": 1000, "indicators": {"fast": {"type": "sma", "period": 10}},
    "batch_size": 100, "timestamp_unit": "ms", "lookahead_check": False, "start_timeout": 1, "call_timeout": 2.0,
    "env": {"A": "1"}, "memory_limit_mb": 512, "sandbox": True,
}

CASES: list[Any] = [
    BASE, FULL, {**BASE, "id": None, "alerts": None, "timestamp_unit": None, "memory_limit_mb": None},
    {**BASE, "features": []}, {**BASE, "size": 1e15}, {**BASE, "fee_bps": 10_000}, {**BASE, "slippage_bps": 9999.9},
    # left to the model: refused, or valid only after a conversion
    {**BASE, "size": 0}, {**BASE, "size": -1}, {**BASE, "size": 1e16}, {**BASE, "size": math.nan},
    {**BASE, "size": math.inf}, {**BASE, "size": True}, {**BASE, "size": "2"}, {**BASE, "size": 2**60},
    {**BASE, "slippage_bps": 10_000}, {**BASE, "fee_bps": -0.1}, {**BASE, "leverage": 1001},
    {**BASE, "history": 0}, {**BASE, "history": 2.0}, {**BASE, "history": "5"}, {**BASE, "history": True},
    {**BASE, "batch_size": 1_000_001}, {**BASE, "size_mode": "lots"}, {**BASE, "fill_at": "open"},
    {**BASE, "timestamp_unit": "h"}, {**BASE, "lookahead_check": 1}, {**BASE, "lookahead_check": "true"},
    {**BASE, "env": {"A": 1}}, {**BASE, "env": []}, {**BASE, "config": []}, {**BASE, "config": {1: 2}},
    {**BASE, "indicators": {"x": 3}}, {**BASE, "features": "f"}, {**BASE, "features": [3]},
    {**BASE, "features": [{"name": "f", "onError": "ignore"}]}, {**BASE, "features": [{"name": "f", "bogus": 1}]},
    {**BASE, "features": [{"name": "f", "timeout": 0}]}, {**BASE, "features": [{"name": "f", "timeout": math.inf}]},
    {**BASE, "features": [{"name": "f", "priority": 1.0}]}, {**BASE, "features": [{"config": {}}]},
    {**BASE, "features": [{"name": "f", "onError": "fail", "on_error": "continue"}]},
    {**BASE, "start_timeout": 86_401}, {**BASE, "memory_limit_mb": 0}, {**BASE, "bogus": 1},
    {"strategy": "s"}, {**BASE, "strategy": 3}, {**BASE, "id": 5}, [], None,
]


def _model(case: Any) -> RunConfigModel | None:
    try:
        return RunConfigModel.model_validate(case)
    except ValidationError:
        return None


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_the_quick_run_config_agrees_with_the_model(case: Any) -> None:
    quick, model = quick_run_config(case), _model(case)
    if quick is not None:
        assert model is not None, case
        assert quick == model.record()
        user = quick.to_user_dict()
        assert user == model.model_dump(mode="json", by_alias=True)
        assert list(user) == list(model.model_dump(mode="json", by_alias=True))
        assert [list(f) for f in user["features"]] == [["name", "config", "priority", "onError", "timeout"]] * len(
            user["features"])
        options = {"mode": "json", "by_alias": True, "exclude_defaults": True}
        assert quick.model_dump(**options) == model.model_dump(**options)
    if model is not None:
        assert RunConfig.model_validate(case) == model.record()
    elif isinstance(case, dict):
        with pytest.raises(ValidationError):
            RunConfig.model_validate(case)


def test_the_record_and_the_model_have_the_same_fields_and_defaults() -> None:
    from dataclasses import fields

    from plughost.executor.runconfig import FeatureEntry
    from plughost.executor.runconfig_model import FeatureEntryModel

    for record, model in ((RunConfig, RunConfigModel), (FeatureEntry, FeatureEntryModel)):
        assert [f.name for f in fields(record)] == list(model.model_fields)
    assert RunConfig(strategy="s", candles="c") == RunConfigModel(strategy="s", candles="c").record()
    assert FeatureEntry(name="f") == FeatureEntry(**FeatureEntryModel(name="f").model_dump())


def test_plainly_valid_configs_take_the_quick_path() -> None:
    for case in CASES[:7]:
        assert quick_run_config(case) is not None, case


def test_errors_are_the_models_words() -> None:
    with pytest.raises(ConfigError) as err:
        RunConfig.parse({**BASE, "size": 0, "history": "x", "bogus": 1}, source="f.json")
    assert str(err.value.message).startswith("f.json is invalid: size: Input should be greater than 0; history:")
    assert err.value.problems == ["size: Input should be greater than 0",
                                  "history: Input should be a valid integer, unable to parse string as an integer",
                                  "bogus: Extra inputs are not permitted"]
    with pytest.raises(ConfigError) as err:
        check_pre_run_change(RunConfig.parse(BASE), {**BASE, "fee_bps": -1}, "feat")
    assert err.value.problems == ["fee_bps: Input should be greater than or equal to 0"]


def test_a_config_that_is_not_plain_json_is_dumped_by_the_model() -> None:
    from datetime import datetime

    run = RunConfig.parse({**BASE, "config": {"when": datetime(2024, 1, 2), "pair": ("a", 1), "bad": math.nan}})
    assert run.to_user_dict()["config"] == RunConfigModel.model_validate(run.to_python()).model_dump(
        mode="json", by_alias=True)["config"]
    assert run.to_user_dict()["config"]["when"] == "2024-01-02T00:00:00"


SUMMARY: dict[str, Any] = {
    "run_id": "r", "status": "ok", "strategy": "s", "config": {"fast": 5}, "error": None,
    "metrics": {"num_trades": 3, "sharpe": 1.5, "profit_factor": None}, "plugin_metrics": {"f": {"m": 2}},
    "ignored_signals": 1, "candles": 10, "symbols": ["BTC"], "run_config": FULL, "features": ["f"],
    "warnings": [{"code": "W", "message": "m", "hook": "on_post_run"}, {"code": "V"}],
    "started_at": 1.5, "duration_s": 0.25, "plughost_version": "1.0", "extra_key": {"a": [1]},
}
SUMMARIES: list[Any] = [
    SUMMARY, {**SUMMARY, "status": "failed", "error": {"code": "E", "message": "m", "plugin": "p", "hint": "h"}},
    {k: v for k, v in SUMMARY.items() if k not in ("plugin_metrics", "warnings", "features", "run_config")},
    # left to the model
    {**SUMMARY, "started_at": 3}, {**SUMMARY, "metrics": {"a": True}}, {**SUMMARY, "candles": 2.0},
    {**SUMMARY, "symbols": ("BTC",)}, {**SUMMARY, "status": "done"}, {**SUMMARY, "error": {"code": "E"}},
]


@pytest.mark.parametrize("case", SUMMARIES, ids=[str(i) for i in range(len(SUMMARIES))])
def test_the_quick_summary_record_agrees_with_the_model(case: Any) -> None:
    try:
        want = RunSummary.model_validate(case).model_dump(mode="json")
    except ValidationError:
        with pytest.raises(ValidationError):
            summary_record(case)
        return
    got = summary_record(case)
    assert got == want and list(got) == list(want), case
    assert [list(w) for w in got["warnings"]] == [list(w) for w in want["warnings"]]


def test_plain_summaries_take_the_quick_path() -> None:
    for case in SUMMARIES[:3]:
        _SUMMARY(case)
    with pytest.raises(_NotPlain):
        _SUMMARY(SUMMARIES[3])
