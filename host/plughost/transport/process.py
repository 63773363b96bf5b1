"""A plugin child process: spawned in its own session with three pipes, killed with its whole tree."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

import psutil

from .. import bundle
from ..errors import PluginSpawnFailed
from ..protocol.framing import DEFAULT_MAX_FRAME
from ..protocol.messages import PROTOCOL_VERSIONS
from .env import SESSION_VAR, host_session, make_undumpable, plugin_environment
from .reaper import REAPER
from .stderr import StderrTail

COOKIE_VAR = "PLUGHOST_MAGIC_COOKIE"
STACK_FD_VAR = "PLUGHOST_STACK_FD"
NODE_LANGUAGES = ("typescript", "javascript")
COOKIE = "plughost-plugin-v1"
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20


@dataclass
class LaunchSpec:
    """Everything needed to start one plugin process."""

    name: str
    plugin_type: str
    language: str
    entry: Path
    plugin_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    sandbox: bool = False


def _python_sdk_path() -> str | None:
    spec = find_spec("plughost_sdk")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent.parent)


def node_runner() -> Path:
    return bundle.node_runner()


def command_for(spec: LaunchSpec) -> tuple[list[str], dict[str, str]]:
    """The argv and language-specific environment for a plugin."""
    if spec.language == "python":
        sdk = _python_sdk_path()
        return [sys.executable, "-m", "plughost_sdk"], ({"PYTHONPATH": sdk} if sdk else {})
    if spec.language in ("typescript", "javascript"):
        node = os.environ.get("PLUGHOST_NODE") or shutil.which("node")
        if node is None:
            raise PluginSpawnFailed(
                f"plugin '{spec.name}' is written in {spec.language} but `node` is not on PATH",
                plugin=spec.name, hint="install Node.js 20+ or set PLUGHOST_NODE to its path",
            )
        runner = node_runner()
        if not runner.is_file():
            raise PluginSpawnFailed(
                f"the TypeScript SDK runner {runner} is missing", plugin=spec.name,
                hint=bundle.build_hint(),
            )
        modules = bundle.node_modules()  # `@plughost/sdk` for plugins outside the package/checkout
        return [node, str(runner)], ({"NODE_PATH": str(modules)} if modules is not None else {})
    raise PluginSpawnFailed(f"plugin '{spec.name}' has unknown language {spec.language!r}", plugin=spec.name)


def base_protocol_vars(max_frame: int) -> dict[str, str]:
    """What every plugin process gets, whichever plugin it will be."""
    return {
        COOKIE_VAR: COOKIE,
        "PLUGHOST_PROTOCOL_VERSIONS": ",".join(map(str, PROTOCOL_VERSIONS)),
        "PLUGHOST_MAX_FRAME": str(max_frame),
        SESSION_VAR: host_session(),
    }


def plugin_vars(spec: LaunchSpec) -> dict[str, str]:
    return {
        "PLUGHOST_PLUGIN_ENTRY": str(spec.entry),
        "PLUGHOST_PLUGIN_NAME": spec.name,
        "PLUGHOST_PLUGIN_TYPE": spec.plugin_type,
    }


def launch_command(spec: LaunchSpec, max_frame: int) -> tuple[list[str], dict[str, str]]:
    """The argv and whole environment of a cold start of `spec` (its tree token and stack pipe aside)."""
    argv, lang_env = command_for(spec)
    return argv, plugin_environment({**base_protocol_vars(max_frame), **lang_env, **plugin_vars(spec)},
                                    spec.extra_env)


# Every process started for a plugin carries a token of its own in this variable, and so do its descendants
# (they inherit the environment): kill() finds those that left the plugin's process group (setsid) by it.
TREE_TOKEN_VAR = "PLUGHOST_TREE_TOKEN"


def kill_by_token(token: str, timeout: float = 1.0) -> list[int]:
    """SIGKILL every live process whose environment holds TREE_TOKEN_VAR=token; returns their pids."""
    needle = f"{TREE_TOKEN_VAR}={token}\0".encode()
    found: list[psutil.Process] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                data = environ.read()
        except OSError:
            continue
        if data.startswith(needle) or b"\0" + needle in data:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(int(entry))
                proc.kill()
                found.append(proc)
    psutil.wait_procs(found, timeout=timeout)
    return [p.pid for p in found]


def signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class ChildHandle(Protocol):
    """What PluginProcess needs of a child: subprocess.Popen, or a fork server's child (forkserver.py)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...  # raises subprocess.TimeoutExpired


class PluginProcess:
    def __init__(self, spec: LaunchSpec, child: ChildHandle, stdin_fd: int, stdout_fd: int, stderr_fd: int,
                 tree_token: str | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.child = child
        self.pid = child.pid
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        os.set_blocking(self.stdin_fd, False)
        os.set_blocking(self.stdout_fd, False)
        for fd in (self.stdin_fd, self.stdout_fd):
            # Bigger pipes: a candle batch crosses in one or two writes instead of many 64 KiB hops.
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        self.stderr = StderrTail(stderr_fd, spec.name)
        self.pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self.pidfd = os.pidfd_open(self.pid)
        self._killed = False
        self._fds_open = True
        self.stack_fd: int | None = None  # write end of a Node runner's stack-dump pipe (see transport/stack.py)
        self.tree_token = tree_token
        self._main_pid: int | None = None
        REAPER.watch(self.pid)
        if tree_token is not None:
            REAPER.watch_token(tree_token)

    @classmethod
    def spawn(cls, spec: LaunchSpec, *, max_frame: int = DEFAULT_MAX_FRAME) -> PluginProcess:
        """Start the plugin's process cold: a new interpreter (or Node) for it alone."""
        make_undumpable()
        argv, env = launch_command(spec, max_frame)
        if spec.sandbox:
            from .sandbox import sandboxed_command

            argv, env = sandboxed_command(spec, argv, env)
        return cls.start(spec, argv, env)

    @classmethod
    def start(cls, spec: LaunchSpec, argv: list[str], env: dict[str, str]) -> PluginProcess:
        token = uuid.uuid4().hex
        env = {**env, TREE_TOKEN_VAR: token}
        # Node cannot run a signal handler while its main thread is busy: a Node runner's watchdog thread
        # waits on this pipe instead, and dumps the main thread's stack when the host writes to it.
        stack_pipe = os.pipe() if spec.language in NODE_LANGUAGES else None
        if stack_pipe is not None:
            env[STACK_FD_VAR] = str(stack_pipe[0])
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=spec.plugin_dir, env=env, close_fds=True, start_new_session=True, bufsize=0,
                pass_fds=stack_pipe[:1] if stack_pipe else (),
            )
        except OSError as exc:
            if stack_pipe is not None:
                os.close(stack_pipe[1])
            raise PluginSpawnFailed(
                f"could not start plugin '{spec.name}': {exc}", plugin=spec.name,
                hint=f"check that {argv[0]} exists and {spec.plugin_dir} is readable",
            ) from exc
        finally:
            if stack_pipe is not None:
                os.close(stack_pipe[0])
        assert popen.stdin and popen.stdout and popen.stderr
        # Take the raw descriptors; the Popen's file objects are detached so only we close them.
        fds = [os.dup(stream.fileno()) for stream in (popen.stdin, popen.stdout, popen.stderr)]
        for stream in (popen.stdin, popen.stdout, popen.stderr):
            stream.close()
        popen.stdin = popen.stdout = popen.stderr = None
        process = cls(spec, popen, fds[0], fds[1], fds[2], token)
        if stack_pipe is not None:
            os.set_blocking(stack_pipe[1], False)
            process.stack_fd = stack_pipe[1]
        return process

    @property
    def main_pid(self) -> int:
        """The plugin's own process: for a sandboxed one, the innermost of bwrap's chain, else `pid`."""
        if not self.spec.sandbox:
            return self.pid
        if self._main_pid is not None:
            return self._main_pid
        pid = self.pid
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for _ in range(4):
                kids = proc.children()
                if len(kids) != 1:
                    break
                proc = kids[0]
            pid = proc.pid
        if pid != self.pid:
            self._main_pid = pid
        return pid

    def poll(self) -> int | None:
        return self.child.poll()

    @property
    def returncode(self) -> int | None:
        return self.child.returncode

    def wait(self, timeout: float) -> int | None:
        try:
            return self.child.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, grace: float = 2.0) -> None:
        """SIGTERM the process group, wait `grace`, then SIGKILL the group and every descendant.

        Safe to call more than once and on a process that already exited (its grandchildren may not have)."""
        if self._killed:
            return
        self._killed = True
        descendants: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            descendants = psutil.Process(self.pid).children(recursive=True)
        if self.child.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGTERM)
            self.wait(grace)
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        for child in descendants:  # those that left the group with setsid()
            with contextlib.suppress(psutil.Error):
                child.kill()
        self.wait(5.0)
        psutil.wait_procs(descendants, timeout=1.0)
        if self.tree_token is not None:  # orphans that left the group (setsid) after the plugin died
            kill_by_token(self.tree_token)
        self.close_fds()

    def close_fds(self) -> None:
        if self._fds_open:
            self._fds_open = False
            for fd in (self.stdin_fd, self.stdout_fd, self.stack_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None
        self.stderr.join(0.5)
        REAPER.forget(self.pid)
        if self.tree_token is not None and self._killed:  # swept by kill(); an exit without kill keeps it
            REAPER.forget_token(self.tree_token)


class Spawner(Protocol):
    """How plugin processes are started: passed in where plugins are started (`start_plugin`, the loader,
    the engine, a batch worker), cold unless the caller chose otherwise."""

    warm: bool  # whether starts may be warm: a fork server, Node spares (reported in batch results)

    def spawn(self, spec: LaunchSpec, *, max_frame: int = DEFAULT_MAX_FRAME) -> PluginProcess: ...

    def close(self) -> None: ...  # stop what serves the starts (a fork server, Node spares)


class ColdSpawner:
    """Every plugin in a new process of its own (`PluginProcess.spawn`)."""

    warm = False

    def spawn(self, spec: LaunchSpec, *, max_frame: int = DEFAULT_MAX_FRAME) -> PluginProcess:
        return PluginProcess.spawn(spec, max_frame=max_frame)

    def close(self) -> None:
        pass


COLD = ColdSpawner()
