"""`python -m plughost_sdk` as a real process: what it does before any plugin code runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from plughost_sdk._codec import decode
from plughost_sdk._framing import FrameReader


def _run(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "plughost_sdk"], env={"PATH": os.environ["PATH"], **env}, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def test_started_by_hand_it_refuses_and_says_how_plugins_are_run(tmp_path: Path):
    done = _run({"PLUGHOST_FORK_SERVER_FD": "0"}, tmp_path)
    assert done.returncode == 1
    assert done.stdout == b""
    assert "plugins are started by `plughost run`" in done.stderr.decode()


def test_without_a_fork_server_fd_it_is_the_runner_of_the_named_plugin(tmp_path: Path):
    entry = tmp_path / "strategy.py"
    entry.write_text("x = 1\n")  # imports, but holds no plugin
    done = _run({"PLUGHOST_MAGIC_COOKIE": "plughost-plugin-v1", "PLUGHOST_PLUGIN_ENTRY": str(entry),
                 "PLUGHOST_PLUGIN_NAME": "empty"}, tmp_path)
    assert done.returncode == 1
    read, write = os.pipe()
    os.write(write, done.stdout)
    os.close(write)
    reader = FrameReader(read)
    kind, method, error = decode(reader.read() or b"")
    assert reader.read() is None  # a load_error instead of hello, and nothing after it
    os.close(read)
    assert (kind, method, error["kind"], error["file"]) == (2, "load_error", "no_plugin", str(entry.resolve()))
    assert "cannot load plugin 'empty'" in done.stderr.decode()
