"""The fork server: a runner with the SDK already imported that forks one child per plugin start.

The host starts it once (`python -m plughost_sdk --fork-server`) and talks to it over a Unix
SOCK_SEQPACKET socket (fd in PLUGHOST_FORK_SERVER_FD): each request carries the child's stdin, stdout
and stderr pipe ends (SCM_RIGHTS) and its environment and folder; the reply is the child's pid, and
each child's exit status is reported when the server reaps it. A forked child sets up exactly like a
runner started cold, so a plugin cannot tell the difference, but it skips the interpreter start and
the imports: milliseconds instead of ~100 ms. This is host-internal (not part of the plugin protocol).
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


def _become_plugin(sock: socket.socket, wake: tuple[int, int], fds: list[int], request: dict[str, Any]) -> NoReturn:
    code = 1
    try:
        os.setsid()  # its own process group: the host kills the plugin's whole tree with killpg
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        for fd in wake:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        os.chdir(request["cwd"])
        from ._runner import main

        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


def serve(sock_fd: int) -> int:
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: set[int] = set()
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
            message, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 3)
            if not message:
                return 0  # the host closed its end: its children die with us (PR_SET_PDEATHSIG)
            request = json.loads(message)
            pid = os.fork()
            if pid == 0:
                _become_plugin(sock, (wake_r, wake_w), fds, request)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            _send(sock, {"id": request["id"], "pid": pid})


def main(sock_fd: int) -> int:
    # Preload what every runner imports, so that children get it for free.
    import gc

    from . import _driver, _runner  # noqa: F401

    sys.stdout.flush()
    gc.freeze()  # keep the preloaded objects out of the children's collections: fewer copy-on-write pages
    return serve(sock_fd)
