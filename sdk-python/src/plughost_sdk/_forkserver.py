"""The fork server: a runner with the SDK already imported that forks one child per plugin start.

The host starts it (`python -m plughost_sdk` with PLUGHOST_FORK_SERVER_FD set, which makes `__main__`
pick it over the runner) and talks to it over a Unix SOCK_SEQPACKET socket: the host asks for spares,
the server forks them ahead of time and passes each spare's pid and channel (SCM_RIGHTS) to the host, and
reports every child's exit status when it reaps it. To start a plugin the host sends a spare, on its
channel, the plugin's stdin, stdout and stderr pipe ends and its environment and folder. A forked child
then runs the stdio runner exactly like a runner started cold, so a plugin cannot tell the difference,
but it skips the interpreter start and the imports: milliseconds instead of ~100 ms. This is
host-internal (not part of the plugin protocol).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

from ._parent import die_with_parent
from ._runner import main as run_plugin


def _spare(server: socket.socket, wake: tuple[int, int], assignment: socket.socket) -> NoReturn:
    """A child forked ahead of time: it gets ready, then waits until it is told which plugin to become.
    Forking before the request keeps the fork and its copy-on-write faults off the plugin's start."""
    code = 1
    try:
        os.setsid()  # its own process group: the host kills the plugin's whole tree with killpg
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        server.close()
        for fd in wake:
            os.close(fd)
        die_with_parent()  # the server, which reaps us and reports our exit to the host
        message, fds, _flags, _addr = socket.recv_fds(assignment, 1 << 16, 3)
        assignment.close()
        if not message:
            os._exit(0)  # never used: the server is shutting down
        request = json.loads(message)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        os.chdir(request["cwd"])
        code = run_plugin()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        os._exit(0)  # the host is gone: nobody to report to; children die with us (PR_SET_PDEATHSIG)


def serve(sock_fd: int) -> int:
    """Keep spares forked and hand each one's channel to the host, which talks to the spare directly:
    starting a plugin then costs the host one message, with no round trip through this server."""
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: set[int] = set()

    def fork_spare() -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _spare(sock, (wake_r, wake_w), theirs)
        theirs.close()
        children.add(pid)
        socket.send_fds(sock, [json.dumps({"spare": pid}).encode()], [ours.fileno()])
        ours.close()  # the host holds the only other end now: closing it tells the spare to exit

    while True:
        try:
            ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            os.read(wake_r, 4096)
        while children:  # report every child that exited, in any order
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})
        if sock.fileno() in ready:
            message = sock.recv(1 << 16)
            if not message:
                return 0  # the host closed its end: its children die with us (PR_SET_PDEATHSIG)
            for _ in range(int(json.loads(message).get("spares", 0))):
                fork_spare()


def main(sock_fd: int) -> int:
    """Serve the host on the socket `sock_fd`; returns the exit code. Everything a runner imports is
    imported with this module (`_runner` at the top), so the children get it for free."""
    import gc

    die_with_parent()
    sys.stdout.flush()
    gc.freeze()  # keep the preloaded objects out of the children's collections: fewer copy-on-write pages
    try:
        return serve(sock_fd)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the host went away mid-message (killed, Ctrl-C while starting): nothing to report
