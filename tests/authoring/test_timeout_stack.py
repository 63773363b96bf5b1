"""A plugin stopped for not answering in time is reported with its stack at that moment: the error names
the line it was stuck on (`stopped_at`), and carries the whole dump (`stack`), shown by the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CANDLES, Cli, build_typescript, line_of, typescript_probe

ON_CANDLE = "        if len(ctx.history) < self.lookback:\n"


def test_python_timeout_shows_the_line_of_the_loop(scaffold: Callable[..., Path], cli: Cli, tmp_path: Path) -> None:
    plugin = scaffold("probe")
    strategy = plugin / "strategy.py"
    text = strategy.read_text()
    assert ON_CANDLE in text
    strategy.write_text(text.replace(ON_CANDLE, "        spins = 0\n        while True:\n            spins += 1\n"
                                     + ON_CANDLE, 1))
    loop = line_of(strategy, "spins += 1")
    began = time.monotonic()
    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out", "--call-timeout", "1")
    assert time.monotonic() - began < 15
    assert done.exit_code == 1
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_TIMEOUT"
    assert error["stopped_at"]["line"] in (loop - 1, loop) and error["stopped_at"]["function"] == "on_candle"
    assert error["stopped_at"]["file"].endswith("strategy.py")
    assert f'strategy.py", line {error["stopped_at"]["line"]} in on_candle' in error["stack"]
    assert f"it was at plugins-dev/probe/strategy.py:{error['stopped_at']['line']} in on_candle" in error["message"]
    assert "plugin stack when it was stopped" in done.stderr and "in on_candle" in done.stderr


@pytest.mark.node
def test_typescript_timeout_shows_the_ts_line_of_the_loop(scaffold: Callable[..., Path], cli: Cli,
                                                          tmp_path: Path) -> None:
    plugin = typescript_probe(scaffold)
    index = plugin / "src" / "index.ts"
    marker = "    const h = ctx.history;\n"
    text = index.read_text()
    assert marker in text
    index.write_text(text.replace(marker, "    let spins = 0;\n    while (candle.close > 0) {\n      spins += 1;\n"
                                  "    }\n    if (spins < 0) return null;\n" + marker, 1))
    build_typescript(plugin)
    loop = line_of(index, "spins += 1")
    began = time.monotonic()
    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out", "--call-timeout", "2")
    assert time.monotonic() - began < 20
    assert done.exit_code == 1
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_TIMEOUT", error
    assert error["stopped_at"] is not None, error["stack"]
    assert error["stopped_at"]["file"].endswith("src/index.ts"), error["stopped_at"]
    assert loop - 1 <= error["stopped_at"]["line"] <= loop + 1, (loop, error["stopped_at"])
    assert "onCandle" in error["stopped_at"]["function"]
    assert f"src/index.ts:{error['stopped_at']['line']} in" in error["message"]
    assert "plugin stack when it was stopped" in done.stderr


def test_python_start_timeout_shows_the_import_line(scaffold: Callable[..., Path], cli: Cli, tmp_path: Path) -> None:
    plugin = scaffold("probe")
    strategy = plugin / "strategy.py"
    text = strategy.read_text()
    strategy.write_text(text.replace("from typing import Any\n", "from typing import Any\nimport time\n"
                                     "time.sleep(60)  # a slow import\n", 1))
    line = line_of(strategy, "time.sleep(60)")
    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent,
               "--out", tmp_path / "out", "--start-timeout", "2")
    assert done.exit_code == 1
    error = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())["error"]
    assert error["code"] == "PLUGIN_START_TIMEOUT"
    assert error["stopped_at"]["line"] == line and error["stopped_at"]["function"] == "<module>"
    assert f"strategy.py:{line} in <module>" in error["message"]
