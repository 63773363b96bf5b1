"""Host side of the Python SDK's fork server (sdk-python/src/plughost_sdk/_forkserver.py).

One server process per host process; it has the SDK imported and keeps SPARES children forked ahead of
time, passing us each spare's pid and a channel to it. Starting a plugin sends a spare its pipes,
environment and folder on that channel (no round trip), then asks the server for a new spare. The child is
in its own session like any plugin process, so everything above (session, kill, reaper) works
unchanged; only its exit status comes from the server, which is its parent, instead of from waitpid.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import uuid

from ..errors import PluginSpawnFailed
from .env import make_undumpable, plugin_environment
from .process import (
    TREE_TOKEN_VAR,
    LaunchSpec,
    PluginProcess,
    base_protocol_vars,
    command_for,
    plugin_vars,
)
from .reaper import REAPER

_START_TIMEOUT = 10.0
SPARES = 2  # a strategy and a feature can start back to back without waiting for a fork


class ForkedChild:
    """A ChildHandle whose exit status the fork server reports."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid

    @property
    def returncode(self) -> int | None:
        return self.server.exit_code(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.server.wait_exit(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
        return code


class ForkServer:
    def __init__(self, max_frame: int) -> None:
        make_undumpable()
        self.max_frame = max_frame
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        spec = LaunchSpec("fork-server", "strategy", "python", os.devnull, os.getcwd())  # type: ignore[arg-type]
        argv, lang_env = command_for(spec)
        env = plugin_environment({**base_protocol_vars(max_frame), **lang_env,
                                  "PLUGHOST_FORK_SERVER_FD": str(theirs.fileno())})
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                                     pass_fds=(theirs.fileno(),), start_new_session=True, close_fds=True)
        theirs.close()
        self.sock = ours
        self.owner = os.getpid()
        REAPER.watch(self.proc.pid)
        self._cond = threading.Condition()
        self._spares: list[tuple[int, socket.socket]] = []
        self._exits: dict[int, int] = {}
        self._alive = True
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="plughost-fork-server", daemon=True)
        self._reader.start()
        self.served = 0
        self._ask_for_spares(SPARES)

    def _ask_for_spares(self, count: int) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            self.sock.send(json.dumps({"spares": count}).encode())

    def _read(self) -> None:
        try:
            while True:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 16, 1)
                if not data:
                    break
                message = json.loads(data)
                with self._cond:
                    if "exit" in message:
                        self._exits[int(message["exit"])] = int(message["code"])
                    elif "spare" in message and fds:
                        self._spares.append((int(message["spare"]), socket.socket(fileno=fds[0])))
                    self._cond.notify_all()
        except OSError:
            pass
        with self._cond:
            self._alive = False
            self._cond.notify_all()

    @property
    def alive(self) -> bool:
        return self._alive and self.proc.poll() is None

    def exit_code(self, pid: int) -> int | None:
        with self._cond:
            code = self._exits.get(pid)
            if code is None and not self._alive and not _exists(pid):
                code = self._exits[pid] = -9  # the server died first; the child died with it
            return code

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                code = self.exit_code(pid)
                if code is not None:
                    return code
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))

    def spawn(self, spec: LaunchSpec) -> PluginProcess:
        token = uuid.uuid4().hex
        env = {**spec.extra_env, **plugin_vars(spec), TREE_TOKEN_VAR: token}
        pid, channel = self._take_spare(spec)
        pipes = [os.pipe() for _ in range(3)]
        child_ends = [pipes[0][0], pipes[1][1], pipes[2][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        try:
            payload = json.dumps({"env": env, "cwd": str(spec.plugin_dir)}).encode()
            socket.send_fds(channel, [payload], child_ends)
        except OSError as exc:
            for fd in ours:
                os.close(fd)
            raise PluginSpawnFailed(f"the fork server's spare could not start plugin '{spec.name}': {exc}",
                                    plugin=spec.name, hint="plughost falls back to cold starts") from exc
        finally:
            channel.close()
            for fd in child_ends:
                os.close(fd)
            self._ask_for_spares(1)
        self.served += 1
        return PluginProcess(spec, ForkedChild(self, pid), ours[0], ours[1], ours[2], token)

    def _take_spare(self, spec: LaunchSpec) -> tuple[int, socket.socket]:
        deadline = time.monotonic() + _START_TIMEOUT
        with self._cond:
            while not self._spares:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._alive:
                    raise PluginSpawnFailed(f"the fork server has no process ready for plugin '{spec.name}'",
                                            plugin=spec.name, hint="plughost falls back to cold starts")
                self._cond.wait(remaining)
            return self._spares.pop(0)

    def close(self) -> None:
        with self._cond:
            spares, self._spares = self._spares, []
        for _pid, channel in spares:  # unused spares see end of file and exit
            channel.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        REAPER.forget(self.proc.pid)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
