"""The environment a plugin process gets: an allow-list, never the host's secrets."""

from __future__ import annotations

import contextlib
import ctypes
import os
import uuid
from collections.abc import Mapping

# Only what programs need to run and to format text; credentials (AWS_*, *_TOKEN, ...) never pass.
ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "TERM",
    "SYSTEMROOT", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
})
ALLOWED_PREFIXES = ("LC_",)


def plugin_environment(
    protocol_vars: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The allow-listed part of `source` (default: os.environ), then `extra` (what the run config
    grants), then the protocol's own variables, which nothing may override."""
    source = os.environ if source is None else source
    env = {k: v for k, v in source.items() if k in ALLOWED or k.startswith(ALLOWED_PREFIXES)}
    env.update(extra or {})
    env.update(protocol_vars)
    return env


# Plugins are told which host session they belong to (tests and tooling group processes by it), never the
# host's pid: with the pid a plugin of the same user could go looking in /proc/<pid>/. Inherited by batch
# workers through their environment, so a host and its workers share one value.
SESSION_VAR = "PLUGHOST_HOST_SESSION"


def host_session() -> str:
    value = os.environ.get(SESSION_VAR)
    if not value:
        value = os.environ[SESSION_VAR] = uuid.uuid4().hex
    return value


_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3
_undumpable = False


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): /proc/<host>/environ, mem, maps become root-only, and no process of the
    same user can ptrace the host, so a plugin cannot read the secrets in the host's environment. Called
    before the first plugin is started (and at CLI start); plugins themselves stay dumpable (execve resets
    it), which is what lets the host's tree-token sweep read their environment. Returns whether it is set."""
    global _undumpable
    if _undumpable:
        return True
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0:
            _undumpable = True
    return _undumpable


def is_dumpable() -> bool | None:
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(None, use_errno=True).prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0))
    return None
