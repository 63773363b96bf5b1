"""Warm starts for Node plugins: a runner started ahead of time (a spare) becomes the next plugin's process.

Node cannot fork, so the Python fork server (forkserver.py) has no Node twin. Instead one Node runner is
kept started with no plugin named (PLUGHOST_SPARE_FD set): it gets past Node's start-up, the SDK's imports
and its stack watchdog's thread, then blocks reading that descriptor before any plugin code runs
(sdk-typescript/src/spare.ts). Starting a plugin writes the spare the environment and folder a cold start
would have had and closes the pipe; the spare becomes that plugin's runner on the stdio pipes, session and
tree token it was started with, and speaks the protocol exactly like a cold start. The next spare is started
at once, so its start-up overlaps the run. A spare serves one plugin for one run and is never reused: a
plugin's module state starts fresh, as in a cold start.

Anything a spare cannot serve starts cold (the caller's job when `spawn` returns None): no spare yet (the
first Node start of a process, which also starts the first spare), a spare that died, a plugin environment
that differs from the spare's in a variable Node reads at its own start-up (NODE_OPTIONS, LANG, ...), a
plugin folder that does not exist, a failed write.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import PluginSpawnFailed
from ..protocol.framing import DEFAULT_MAX_FRAME
from .env import plugin_environment
from .process import (
    STACK_FD_VAR,
    TREE_TOKEN_VAR,
    LaunchSpec,
    PluginProcess,
    base_protocol_vars,
    command_for,
    launch_command,
)
from .reaper import REAPER

SPARE_FD_VAR = "PLUGHOST_SPARE_FD"
# Variables Node (or V8, ICU, OpenSSL, libuv) reads while starting, before the spare waits: a plugin whose
# environment sets them differently must start cold to get them. The rest are read when used, after the
# spare has taken the plugin's environment.
_STARTUP_PREFIXES = ("NODE_", "UV_", "LC_", "OPENSSL_", "SSL_")
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "TZ"})
_MAX_ASSIGNMENT = 1 << 16  # one pipe buffer: the write never waits for a spare still starting


def startup_vars(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in _STARTUP_NAMES or k.startswith(_STARTUP_PREFIXES)}


@dataclass
class _Spare:
    popen: subprocess.Popen[bytes]
    argv: list[str]
    startup: dict[str, str]  # what Node read at its start
    token: str
    control: int  # write end of the assignment pipe
    stdio: tuple[int, int, int]  # our ends of its stdin, stdout, stderr
    stack: int  # write end of its stack-dump pipe (transport/stack.py)
    stack_child: int  # that pipe's read end, as the spare numbers it (STACK_FD_VAR)


def _spare_spec() -> LaunchSpec:
    return LaunchSpec("node-spare", "strategy", "javascript", Path(os.devnull), Path("/"))


def _spare_environment(lang_env: Mapping[str, str]) -> dict[str, str]:
    """Everything a cold start's environment holds that does not name a plugin."""
    return plugin_environment({**base_protocol_vars(DEFAULT_MAX_FRAME), **lang_env})


class NodeSpares:
    """Keeps `count` Node runners waiting; `spawn` makes one of them the plugin's process. Thread-safe."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.served = 0  # plugin starts a spare served
        self.cold = 0  # Node plugin starts left to a cold start
        self._ready: list[_Spare] = []
        self._lock = threading.Lock()
        self._closed = False

    def spawn(self, spec: LaunchSpec, *, max_frame: int = DEFAULT_MAX_FRAME) -> PluginProcess | None:
        """`spec`'s process, from a spare; None when it must start cold. Starts the next spare either way."""
        with self._lock:
            if self._closed:
                return None
            try:
                process = self._serve(spec, max_frame)
            finally:
                # Off the plugin's start (a Popen costs 1-15 ms on a loaded machine); the lock keeps a
                # following start from missing the spare being made.
                threading.Thread(target=self.fill, name="plughost-node-spare", daemon=True).start()
            if process is None:
                self.cold += 1
            else:
                self.served += 1
            return process

    def _serve(self, spec: LaunchSpec, max_frame: int) -> PluginProcess | None:
        try:
            argv, env = launch_command(spec, max_frame)
            base = _spare_environment(command_for(_spare_spec())[1])
        except PluginSpawnFailed:
            return None  # the cold start says why
        spare = self._take(argv, startup_vars(base))
        if spare is None:
            return None
        if startup_vars(env) != spare.startup or not os.path.isdir(spec.plugin_dir):
            self._ready.insert(0, spare)  # good for the next plugin
            return None
        env = {**env, TREE_TOKEN_VAR: spare.token, STACK_FD_VAR: str(spare.stack_child)}
        payload = json.dumps({"env": env, "cwd": str(spec.plugin_dir)}).encode()
        if len(payload) > _MAX_ASSIGNMENT:
            self._ready.insert(0, spare)
            return None
        try:
            written = os.write(spare.control, payload)
            if written != len(payload):
                raise OSError("short write")
        except OSError:
            _discard(spare)
            return None
        os.close(spare.control)  # end of file: the spare reads its whole assignment
        process = PluginProcess(spec, spare.popen, *spare.stdio, spare.token)
        os.set_blocking(spare.stack, False)
        process.stack_fd = spare.stack
        return process

    def _take(self, argv: list[str], startup: dict[str, str]) -> _Spare | None:
        """The oldest live spare started as a cold start would start now; stale or dead ones are dropped."""
        while self._ready:
            spare = self._ready.pop(0)
            if spare.popen.poll() is None and spare.argv == argv and spare.startup == startup:
                return spare
            _discard(spare)
        return None

    def fill(self) -> None:
        """Start spares until `count` wait (the first Node start does this, in the background)."""
        with self._lock:
            while not self._closed and len(self._ready) < self.count:
                try:
                    self._ready.append(_start_spare())
                except (OSError, PluginSpawnFailed):
                    return  # no spare: the next start is cold, which reports any real problem

    @property
    def waiting(self) -> list[int]:
        """The pids of the spares waiting for a plugin."""
        with self._lock:
            return [s.popen.pid for s in self._ready]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spares, self._ready = self._ready, []
        for spare in spares:
            _discard(spare)


def _start_spare() -> _Spare:
    argv, lang_env = command_for(_spare_spec())
    token = uuid.uuid4().hex
    stack_r, stack_w = os.pipe()
    control_r, control_w = os.pipe()
    env = {**_spare_environment(lang_env), STACK_FD_VAR: str(stack_r), SPARE_FD_VAR: str(control_r),
           TREE_TOKEN_VAR: token}
    try:
        popen = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", env=env,
            close_fds=True, start_new_session=True, bufsize=0, pass_fds=(stack_r, control_r),
        )
    except OSError:
        os.close(stack_w)
        os.close(control_w)
        raise
    finally:
        os.close(stack_r)
        os.close(control_r)
    REAPER.watch(popen.pid)
    REAPER.watch_token(token)
    assert popen.stdin and popen.stdout and popen.stderr
    # The raw descriptors, as PluginProcess.start takes them: only the plugin's PluginProcess closes them.
    stdin, stdout, stderr = (os.dup(stream.fileno()) for stream in (popen.stdin, popen.stdout, popen.stderr))
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        stream.close()
    popen.stdin = popen.stdout = popen.stderr = None
    return _Spare(popen, argv, startup_vars(env), token, control_w, (stdin, stdout, stderr), stack_w, stack_r)


def _discard(spare: _Spare) -> None:
    """Stop a spare that no plugin will use: it holds no plugin state, so it is killed outright."""
    with contextlib.suppress(OSError):
        os.close(spare.control)
    if spare.popen.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(spare.popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        spare.popen.wait(5.0)
    for fd in (*spare.stdio, spare.stack):
        with contextlib.suppress(OSError):
            os.close(fd)
    REAPER.forget(spare.popen.pid)
    REAPER.forget_token(spare.token)
