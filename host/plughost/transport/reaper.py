"""One small watchdog process per host that kills every plugin process group when the host dies.

A plugin's own parent-death signal kills the plugin, but not a grandchild it started; the reaper
holds the list of plugin process groups and SIGKILLs them all when its stdin (a pipe from the host)
reaches end of file, which happens however the host dies, SIGKILL included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

_SCRIPT = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    op, _, pgid = line.strip().partition(" ")
    if op == "+": groups.add(int(pgid))
    elif op == "-": groups.discard(int(pgid))
for pgid in groups:
    try: os.killpg(pgid, signal.SIGKILL)
    except OSError: pass
"""


class Reaper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_pid = 0

    def _ensure(self) -> subprocess.Popen[bytes] | None:
        if self._proc is not None and self._owner_pid == os.getpid() and self._proc.poll() is None:
            return self._proc
        try:
            # Its own session: Ctrl-C in the terminal must not take the watchdog down with the host.
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SCRIPT],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True,
            )
        except OSError:
            self._proc = None
            return None
        self._owner_pid = os.getpid()
        return self._proc

    def _send(self, line: str) -> None:
        with self._lock:
            proc = self._ensure()
            if proc is None or proc.stdin is None:
                return
            try:
                proc.stdin.write(line.encode())
                proc.stdin.flush()
            except OSError:
                self._proc = None

    def watch(self, pgid: int) -> None:
        self._send(f"+ {pgid}\n")

    def forget(self, pgid: int) -> None:
        if self._proc is not None and self._owner_pid == os.getpid():
            self._send(f"- {pgid}\n")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._owner_pid == os.getpid() else None


REAPER = Reaper()
