"""Ctrl-C in the first second of a batch (while it imports, reads the batch, starts workers): one line
`error [INTERRUPTED]`, exit status 130, nothing left running, and `--resume` finishes it (issue 15, item 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

from .conftest import PLUGHOST, plughost, write_json


def session_processes(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PLUGHOST_HOST_SESSION") == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7, 1.0])
def test_ctrl_c_in_the_first_second(tmp_path: Path, candles: Path, plugins: Path, home: dict[str, str],
                                    delay: float) -> None:
    batch = write_json(tmp_path / "b.json", {"runs": [
        {"id": f"r{i}", "strategy": "toy", "candles": str(candles), "config": {"n": 5 + i, "delay_ms": 300}}
        for i in range(4)]})
    out = tmp_path / "out"
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [str(PLUGHOST), "run", "--batch", str(batch), "--out", str(out), "--plugins-dir", str(plugins),
         "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, **home, "PLUGHOST_HOST_SESSION": tag},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    if proc.returncode == 0:  # the batch was already done
        return
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in err or "interrupted" in err
    deadline = time.monotonic() + 5
    while session_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session_processes(tag)
    again = plughost("run", "--batch", batch, "--out", out, "--plugins-dir", plugins, "--resume", env=home)
    again.assert_clean()
    assert again.code == 0, again.err
