"""The plugin's stack at the moment the host gives up waiting for it (PLUGIN_TIMEOUT, PLUGIN_START_TIMEOUT).

Python runners register `faulthandler` for SIGUSR1: the dump is written from a C signal handler, so it
comes even while the plugin spins in pure Python (`while True: pass`) or sleeps. The host sends the signal,
waits until the dump has stopped growing on stderr (at most `wait` seconds), and then kills the process
as before. A Node runner cannot run a signal handler while its main thread is busy; it has a watchdog
thread (sdk-typescript/src/watchdog.ts) that waits on a pipe (PLUGHOST_STACK_FD) and, when the host writes
to it, pauses the main thread through the inspector and writes its stack (source-mapped) on stderr.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .process import LaunchSpec
from .stderr import StderrTail

STACK_SIGNALS = {"python": signal.SIGUSR1}
DEFAULT_WAIT = 1.0
_QUIET = 0.05  # seconds without new stderr bytes after which a dump is taken as complete
# faulthandler: `  File "/path/strategy.py", line 31 in on_candle`; V8: `    at onCandle (/path/index.ts:12:5)`
_PY_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
_JS_FRAME = re.compile(r"^\s+at (?:(?P<func>.+?) \()?(?:file://)?(?P<file>/[^():]+):(?P<line>\d+):\d+\)?$")
_HEADER = re.compile(r"^(?:Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):$"
                     r"|^Stack \(most recent call first\):$|^plughost: stack of the plugin's main thread")
_NO_STACK = "plughost: no stack:"
_LIBRARY_PARTS = ("site-packages", "dist-packages", "node_modules", "plughost_sdk")


@dataclass(frozen=True)
class StackDump:
    text: str  # the dump as the runtime wrote it
    file: str | None  # the innermost frame in the plugin's own code
    line: int | None
    function: str | None

    def where(self) -> str | None:
        if not self.file:
            return None
        shown = os.path.relpath(self.file) if Path(self.file).resolve().is_relative_to(Path.cwd()) else self.file
        return f"{shown}:{self.line}" + (f" in {self.function}" if self.function else "")


def _dump_lines(text: str) -> list[str]:
    """The dump's lines, from its first header on (the plugin may have written other things before it)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _HEADER.match(line):
            return lines[i:]
    return []


def _users_frame(lines: list[str], plugin_dir: Path) -> tuple[str, int, str | None] | None:
    root = plugin_dir.resolve()
    for line in lines:  # most recent call first
        match = _PY_FRAME.match(line) or _JS_FRAME.match(line)
        if not match:
            continue
        path = Path(match["file"])
        if any(part in _LIBRARY_PARTS for part in path.parts) or not path.resolve().is_relative_to(root):
            continue
        return str(path), int(match["line"]), match["func"]
    return None


class StackSource(Protocol):
    """What a stack capture needs of a plugin's process (`PluginProcess`)."""

    spec: LaunchSpec
    pid: int
    stack_fd: int | None
    stderr: StderrTail

    def poll(self) -> int | None: ...


def capture_stack(process: StackSource, wait: float = DEFAULT_WAIT) -> StackDump | None:
    """Ask the plugin's runner to dump its stack on stderr and return the dump; None when the runtime
    has no way to (or it did not answer within `wait`)."""
    sig = STACK_SIGNALS.get(process.spec.language)
    if (sig is None and process.stack_fd is None) or wait <= 0 or process.poll() is not None:
        return None
    mark = process.stderr.received
    try:
        if process.stack_fd is not None:
            os.write(process.stack_fd, b"s")
        else:
            assert sig is not None
            os.kill(process.pid, sig)
    except OSError:
        return None
    deadline = time.monotonic() + wait
    text, changed = "", time.monotonic()
    while time.monotonic() < deadline:
        new = process.stderr.since(mark)
        now = time.monotonic()
        if new != text:
            text, changed = new, now
            if _NO_STACK in text:  # the runner says it has none to give (Node, waiting on I/O)
                return None
        elif _dump_lines(text) and now - changed >= _QUIET:
            break
        elif process.poll() is not None:  # e.g. the signal's default action, before the runner set it up
            text = process.stderr.since(mark)
            break
        time.sleep(0.01)
    lines = _dump_lines(text)
    if not lines:
        return None
    frame = _users_frame(lines, process.spec.plugin_dir)
    return StackDump("\n".join(lines), *(frame or (None, None, None)))
