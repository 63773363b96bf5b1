"""A plugin that leaves a `setsid` + double-fork daemon behind, run by a batch host (warm starts on and off):
SIGKILL the host, the daemon is gone within a few seconds (the workers die with the host, and each worker's
reaper sweeps by the plugins' tree tokens)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

from .conftest import PLUGHOST, write_json

DAEMON_PLUGIN = '''
import os, subprocess
from plughost_sdk import StrategyPlugin

MARK = os.environ["DAEMON_MARK"]


class Daemonizer(StrategyPlugin):
    def initialize(self, config):
        # setsid: a new session and group; sh backgrounds sleep and exits: the daemon is orphaned at once
        subprocess.Popen(["setsid", "sh", "-c", f"sleep {MARK} & exit 0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def on_candle(self, candle, ctx):
        import time
        time.sleep(0.01)
        return None
'''


def daemons(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["cmdline"] == ["sleep", mark] and proc.info["status"] != "zombie":
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("warm", [True, False])
def test_batch_host_killed_takes_the_daemons_down(tmp_path: Path, candles: Path, home: dict[str, str],
                                                  warm: bool) -> None:
    root = tmp_path / "plugins" / "daemonizer"
    root.mkdir(parents=True)
    write_json(root / "plugin.json", {"name": "daemonizer", "version": "1.0.0", "type": "strategy",
                                      "language": "python", "entry": "main.py"})
    (root / "main.py").write_text(DAEMON_PLUGIN)
    mark = f"{1000 + uuid.uuid4().int % 100_000}.5"  # a unique `sleep` duration marks this test's daemons
    batch = write_json(tmp_path / "b.json", {"batch": {"warm_starts": warm}, "runs": [
        {"id": f"d{i}", "strategy": "daemonizer", "candles": str(candles), "env": {"DAEMON_MARK": mark},
         "config": {"i": i}} for i in range(2)]})
    host = subprocess.Popen([str(PLUGHOST), "run", "--batch", str(batch), "--out", str(tmp_path / "out"),
                             "--plugins-dir", str(tmp_path / "plugins"), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, **home})
    try:
        deadline = time.monotonic() + 60
        while len(daemons(mark)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        found = daemons(mark)
        assert len(found) >= 2, "the plugins did not start their daemons"
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
        killed = time.monotonic()
        while daemons(mark) and time.monotonic() - killed < 5:
            time.sleep(0.1)
        left = daemons(mark)
        assert not left, f"daemons outlived the batch host: {[p.pid for p in left]}"
    finally:
        if host.poll() is None:
            os.killpg(host.pid, signal.SIGKILL)
        for proc in daemons(mark):
            proc.kill()
    assert json.dumps(True)
