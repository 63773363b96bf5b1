"""The TypeScript and Python twins of the example strategies make identical trades through the real host,
on the three-symbol sample (one merged stream, shared cash), with fees, slippage and fraction sizing, at
different batch sizes. The host also checks each batch's order-book mirror, so a run that finishes `ok`
means the TypeScript SDK's book agreed with the host's at every batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from plughost.transport.process import node_runner

from tests.conftest import REPO

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)"),
]

SAMPLE = REPO / "data" / "sample" / "multi-1h.csv"


def _run(tmp: Path, strategy: str, keys: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    name = f"{strategy}-{keys['batch_size']}"
    cfg = tmp / f"{name}.json"
    cfg.write_text(json.dumps(keys))
    out = tmp / f"out-{name}"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "plughost"), "run", "--strategy", strategy, "--candles", str(SAMPLE),
         "--config", str(cfg), "--out", str(out), "--plugins-dir", str(REPO / "plugins")],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = out.glob("runs/*")
    return pq.read_table(run / "trades.parquet").to_pylist(), json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize(("python", "typescript", "keys"), [
    ("bracket-breakout", "bracket-breakout-ts",
     {"size_mode": "fraction", "size": 0.3, "fee_bps": 5, "slippage_bps": 2, "lookback": 12}),
    ("sma-cross", "simple-ma", {"fee_bps": 5, "slippage_bps": 2, "fast": 5, "slow": 20}),
])
@pytest.mark.skipif(not (REPO / "plugins/strategies/bracket-breakout-ts/dist/index.js").is_file(),
                    reason="TypeScript plugins not built (npm run build)")
def test_twins_make_identical_trades_on_a_multi_symbol_stream(tmp_path: Path, python: str, typescript: str,
                                                              keys: dict[str, Any]) -> None:
    py, py_summary = _run(tmp_path, python, {**keys, "batch_size": 8192})
    ts, ts_summary = _run(tmp_path, typescript, {**keys, "batch_size": 7})
    assert len({t["symbol"] for t in py}) == 3 and len(py) > 10
    assert ts == py
    for key in ("ignored_signals", "rejected_signals", "expired_orders"):
        assert ts_summary[key] == py_summary[key], key
    if python == "bracket-breakout":
        kinds = {(t["side"], t["exit_reason"]) for t in py}
        bracket = {(side, exit_) for side in ("long", "short") for exit_ in ("stop_loss", "take_profit")}
        assert bracket <= kinds
