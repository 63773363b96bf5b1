"""summary.json is a typed record whose JSON Schema is committed beside plugin.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from plughost.executor.summary import SCHEMA_FILE, RunSummary, schema_text

SCHEMA = Path(__file__).resolve().parents[2] / "protocol" / SCHEMA_FILE


def test_committed_schema_matches_the_record() -> None:
    assert SCHEMA.read_text() == schema_text(), (
        "protocol/summary.schema.json is stale: python -c 'from plughost.executor.summary import schema_text; "
        "open(\"protocol/summary.schema.json\", \"w\").write(schema_text())'")


def test_a_real_summary_validates_against_the_committed_schema(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from plughost.cli import main

    repo = SCHEMA.parents[1]
    result = CliRunner().invoke(main, ["run", "--strategy", "sma-cross", "--candles",
                                       str(repo / "data" / "sample" / "BTCUSD-1m.parquet"), "--out",
                                       str(tmp_path), "--run-id", "s", "--plugins-dir", str(repo / "plugins")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "runs" / "s" / "summary.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    assert summary["expired_orders"] >= 0 and summary["metrics"]["num_trades"] > 0


def test_the_record_refuses_a_summary_missing_contract_fields() -> None:
    with pytest.raises(ValueError):
        RunSummary.model_validate({"run_id": "x", "status": "ok"})
