"""Host death: SIGKILL the host while plugins run; every plugin process and descendant is gone within 3 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil

from tests.faults.conftest import FIXTURES, NODE_OK, TOKEN, token_processes

HOST_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from plughost.client.proxies import Timeouts, start_plugin
from plughost.transport.process import LaunchSpec
fixtures, token, node = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
plugins = []
for i in range(4):
    lang = "javascript" if node and i == 3 else "python"
    path = fixtures / ("node/faulty.js" if lang == "javascript" else "python/faulty.py")
    env = {"FAULT_SUITE_TOKEN": token}
    if i == 0:
        env.update(FAULT="grandchild_hold", FAULT_AT="0")
    spec = LaunchSpec("faulty-js" if lang == "javascript" else "faulty-py", "strategy", lang, path, path.parent, env)
    plugins.append(start_plugin(spec, timeouts=Timeouts(start=20.0, call=20.0)))
print(json.dumps([p.session.process.pid for p in plugins]), flush=True)
time.sleep(1000)
"""


def test_sigkill_host_takes_every_plugin_and_grandchild_down() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, str(FIXTURES), TOKEN, "1" if NODE_OK else "0"],
                            stdout=subprocess.PIPE, env=env, start_new_session=True)
    try:
        assert host.stdout is not None
        pids = json.loads(host.stdout.readline())
        assert len(pids) == 4
        # the first plugin starts a grandchild at import time (FAULT=grandchild_hold): wait until it is there
        deadline = time.monotonic() + 10
        while len(token_processes()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        victims = token_processes()
        assert len(victims) >= 5, [p.name() for p in victims]  # four plugins and the grandchild
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
        killed_at = time.monotonic()
        left = victims
        while left and time.monotonic() - killed_at < 3.0:
            time.sleep(0.05)
            left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not left, f"still alive 3 s after the host died: {[(p.pid, p.name()) for p in left]}"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
    assert not [p for p in token_processes() if p.pid in pids]
