"""`--sandbox`: each plugin process in its own user, pid, network, IPC, UTS and mount namespaces (bubblewrap).

What a sandboxed plugin sees (everything else does not exist for it):

    /usr, /bin, /lib*, /etc/ld.so.*      the system runtime, read-only
    the Python install and venv          read-only (Python plugins), plus the Python SDK's folder
    node and the TypeScript SDK          read-only (Node plugins): the runner and node_modules
    its own plugin folder                read-only, and its working directory
    /tmp                                 a private, empty tmpfs: the only writable place
    /proc                                its own pid namespace: it and its children only
    /dev                                 null, zero, random, urandom, tty
    network                              only its own loopback (nothing listens there)

Its stdin/stdout/stderr pipes to the host pass through unchanged, so the protocol, timeouts, kill and the
tree-token sweep work as for any plugin. Sandboxed plugins are started cold (never from the warm fork
server: the namespaces are made at exec time). bwrap's `--die-with-parent` ties the sandbox to the host.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SandboxUnavailable

if TYPE_CHECKING:
    from .process import LaunchSpec

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/alternatives")


def bwrap_path() -> str | None:
    return os.environ.get("PLUGHOST_BWRAP") or shutil.which("bwrap")


@functools.cache
def _probe(bwrap: str) -> str | None:
    """None when bwrap can make the namespaces here, else why not (a container without user namespaces)."""
    try:
        done = subprocess.run(
            [bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}")


def check_available() -> str:
    """The bwrap binary to use, or SandboxUnavailable saying what to install."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(
            "--sandbox needs bubblewrap (`bwrap`), which is not installed",
            hint="install it (`apt-get install bubblewrap`, `dnf install bubblewrap`), or run without --sandbox",
        )
    why = _probe(bwrap)
    if why is not None:
        raise SandboxUnavailable(
            f"--sandbox: bubblewrap cannot create namespaces here: {why}",
            hint="allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 or "
            "user.max_user_namespaces > 0), or in a container run it with --privileged / a seccomp profile "
            "that permits clone(CLONE_NEWUSER); or run without --sandbox",
        )
    return bwrap


def _runtime_paths(spec: LaunchSpec, argv: list[str], env: dict[str, str]) -> list[Path]:
    """What the plugin's runtime needs to read: interpreter installs, SDKs, the Node runner."""
    paths: list[Path] = []
    if spec.language == "python":
        paths += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)]
        paths.append(Path(os.path.realpath(sys.executable)).parent.parent)
        paths += [Path(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    else:
        node = Path(os.path.realpath(argv[0]))
        paths.append(node.parent.parent if node.parent.name == "bin" else node.parent)
        paths += [Path(p) for p in env.get("NODE_PATH", "").split(os.pathsep) if p]
        runner = Path(argv[1]).resolve()
        paths.append(runner.parent.parent)  # sdk-typescript/ (dist/ and its package.json)
    out: list[Path] = []
    for path in paths:
        real = Path(os.path.realpath(path))
        if real.exists() and not any(str(real).startswith(s + "/") or str(real) == s for s in SYSTEM_DIRS):
            out.append(real)
    return sorted(set(out))


def sandboxed_command(spec: LaunchSpec, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Wrap `argv` in bubblewrap. The environment passes through as given (already allow-listed)."""
    bwrap = check_available()
    args = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--hostname", "plughost-sandbox",
            # first: a plugin folder or runtime below /tmp is bound on top of the private tmpfs, not hidden by it
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for f in SYSTEM_FILES:
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    for path in _runtime_paths(spec, argv, env):
        args += ["--ro-bind", str(path), str(path)]
    plugin_dir = str(Path(os.path.realpath(spec.plugin_dir)))
    args += ["--ro-bind", plugin_dir, plugin_dir, "--chdir", plugin_dir,
             # bwrap's new root and /dev (with /dev/shm) are tmpfs: read-only too, so /tmp alone is writable
             "--remount-ro", "/dev", "--remount-ro", "/"]
    env = {**env, "TMPDIR": "/tmp", "HOME": "/tmp"}
    return [*args, "--", *argv], env
