"""`plughost run --watch`: an edited strategy is picked up, re-run in a new process, and compared."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from .conftest import CANDLES, VENV_BIN


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _wait_for(lines: queue.Queue[str], seen: list[str], needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"no {needle!r} within {timeout}s; got:\n{''.join(seen)}")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_watch_reruns_an_edited_strategy(stop: signal.Signals, scaffold: Callable[..., Path], tmp_path: Path) -> None:
    plugin = scaffold("watched")
    proc = subprocess.Popen(
        [str(VENV_BIN / "plughost"), "run", "--strategy", "watched", "--candles", str(CANDLES),
         "--plugins-dir", str(plugin.parent), "--out", str(tmp_path / "out"), "--watch"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    threads = [threading.Thread(target=_lines, args=(s, q), daemon=True)
               for s, q in ((proc.stdout, out), (proc.stderr, err))]
    for t in threads:
        t.start()
    stdout: list[str] = []
    stderr: list[str] = []
    try:
        _wait_for(out, stdout, "results:", 60)
        _wait_for(err, stderr, "watching", 30)
        first = "".join(stdout)
        assert "watched ok" in first and "previous" not in first
        source = plugin / "strategy.py"
        source.write_text(source.read_text().replace('reason="above-average"', 'reason="edited"')
                          .replace("candle.close > average * (1 + self.threshold)",
                                   "candle.close > average * (1.0005 + self.threshold)"))
        _wait_for(err, stderr, "changed:", 30)
        assert "strategy.py" in stderr[-1]
        stdout.clear()
        _wait_for(out, stdout, "results:", 60)
        second = "".join(stdout)
        assert "previous (" in second and "now" in second  # the new summary beside the previous one
        trades = next(line for line in stdout if line.startswith("trades"))
        old, new = trades.split()[1:3]
        assert old != new  # the edit changed the strategy's trades
        runs = sorted(p.name for p in (tmp_path / "out" / "runs").iterdir())
        assert len(runs) == 2 and runs[1] == runs[0] + "-2"
    finally:
        proc.send_signal(stop)
        code = proc.wait(15)
    for t in threads:
        t.join(5)
    assert code == 0
    assert "stopped watching" in "".join(stderr) + "".join(err.queue)


def test_watch_and_batch_do_not_mix(tmp_path: Path) -> None:
    done = subprocess.run([str(VENV_BIN / "plughost"), "run", "--batch", "x.toml", "--watch"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--watch re-runs one backtest" in done.stderr
