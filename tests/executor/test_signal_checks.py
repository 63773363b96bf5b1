"""The host never trusts the wire: every signal value it cannot book fails the run with
PLUGIN_PROTOCOL_ERROR naming the plugin and the signal; every run key outside its range is CONFIG_INVALID
before any plugin starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from plughost.cli import main
from plughost.errors import ConfigError
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

BAD_SIGNALS = {
    "negative_price": "Signal.entry(price=-1.0)",
    "nan_stop": "Signal.entry(stop=float('nan'))",
    "zero_size": "Signal.entry(size=0)",
    "infinite_size": "Signal.entry(size=float('inf'))",
    "long_stop_loss_above_take_profit": "Signal.entry(stop_loss=110.0, take_profit=90.0)",
    "short_stop_loss_below_take_profit": "Signal.entry(side='short', stop_loss=90.0, take_profit=110.0)",
    "unknown_symbol": "Signal.entry(symbol='NOPE')",
    "trail_over_100_percent": "Signal.entry(trail_pct=150.0)",
    "valid_for_zero": "Signal.entry(price=99.0, valid_for=0)",
    "price_and_stop": "Signal.entry(price=99.0, stop=101.0)",
    "unknown_side": "Signal.entry(side='sideways')",
    "negative_take_profit": "Signal.entry(take_profit=-5.0)",
}


def make_strategy(root: Path, name: str, signal: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"name": name, "version": "1.0.0", "type": "strategy",
                                                    "language": "python", "entry": "s.py"}))
    (folder / "s.py").write_text(
        "from plughost_sdk import Signal, StrategyPlugin\n\n"
        "class S(StrategyPlugin):\n"
        "    def on_candle(self, candle, ctx):\n"
        f"        return {signal} if len(ctx.history) == 5 else None\n")


@pytest.fixture
def candles(tmp_path: Path) -> Path:
    n = 20
    close = np.linspace(100, 110, n)
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"timestamp": 1_700_000_000_000 + np.arange(n) * 60_000, "open": close,
                             "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)}), path)
    return path


@pytest.mark.parametrize("case", BAD_SIGNALS)
def test_a_bad_signal_is_a_protocol_error_naming_plugin_and_signal(tmp_path: Path, candles: Path, case: str) -> None:
    make_strategy(tmp_path / "plugins", "bad", BAD_SIGNALS[case])
    registry = Registry.discover([tmp_path / "plugins"], use_cache=False)
    out = run_backtest(RunConfig.parse({"strategy": "bad", "candles": str(candles)}), registry=registry,
                       out_dir=tmp_path / "out", run_id="r")
    assert out.status == "failed"
    error = out.summary["error"]
    assert error["code"] == "PLUGIN_PROTOCOL_ERROR" and error["plugin"] == "bad"
    assert "entry signal at candle" in error["message"] and "c 2023-11-14 22:17:20" in error["message"]


BAD_KEYS = {
    "fee_bps": [float("nan"), -1, 20_000, "inf"],
    "slippage_bps": [-0.5, 10_000],
    "size": [0, -1, float("inf"), 1e16],
    "leverage": [0, 5000, float("nan")],
    "initial_capital": [0, -10, float("inf")],
    "call_timeout": [0, 1e10, float("inf")],
    "start_timeout": [-1, 100_000],
    "size_mode": ["shares"],
    "fill_at": ["open"],
    "history": [0, 10**9],
    "batch_size": [0],
    "timestamp_unit": ["minutes"],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in BAD_KEYS.items() for v in vs])
def test_a_run_key_out_of_range_is_config_invalid(key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig.parse({"strategy": "x", "candles": "c.parquet", key: value})
    assert info.value.code == "CONFIG_INVALID" and key in str(info.value)


def test_the_cli_refuses_a_bad_run_key_with_exit_2_before_any_plugin(tmp_path: Path, candles: Path) -> None:
    (tmp_path / "run.toml").write_text("fee_bps = -3\nleverage = 1e9\n")
    result = CliRunner().invoke(main, ["run", "--strategy", "sma-cross", "--candles", str(candles), "--config",
                                       str(tmp_path / "run.toml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "CONFIG_INVALID" in result.output and "fee_bps" in result.output and "leverage" in result.output
    assert "Traceback" not in result.output
