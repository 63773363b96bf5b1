"""Die with the parent: every process this SDK runs (the runner, the fork server, a forked spare) must not
outlive the process that started it, even when its stdin stays open (inherited by a grandchild)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent exits (PR_SET_PDEATHSIG). The parent is read before the
    request: if it changed since, it exited before the request took effect, and nothing would kill us.
    Not on Linux, the request fails and the stdin-EOF rule (PROTOCOL.md section 1) still ends us."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
