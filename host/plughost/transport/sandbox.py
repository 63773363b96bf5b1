"""`--sandbox`: each plugin process in its own user, pid, network, IPC, UTS and mount namespaces (bubblewrap,
or `unshare` plus a set-up script where bubblewrap is not installed).

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

import contextlib
import functools
import json
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


def unshare_path() -> str | None:
    return os.environ.get("PLUGHOST_UNSHARE") or shutil.which("unshare")


# The fallback without bubblewrap: `unshare` makes the namespaces, this script (run inside them, before the
# plugin) builds the same view bwrap would: a read-only tmpfs root holding read-only binds, /dev nodes, a
# private /tmp and /proc; pivot_root into it, detach the old root, drop every capability, exec the plugin.
_UNSHARE_SETUP = r"""
import ctypes, json, os, sys
cfg = json.loads(sys.argv[1]); argv = sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
def mount(src, dst, fs, flags):
    if libc.mount(src and src.encode(), dst.encode(), fs and fs.encode(), flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "sandbox: mount %s: %s" % (dst, os.strerror(err)))
def locked(path):  # flags a less privileged namespace may not clear: keep them when remounting
    f = os.statvfs(path).f_flag
    out = f & (NOSUID | NODEV | NOEXEC)
    out |= (1024 if f & 1024 else 0) | (2048 if f & 2048 else 0) | ((1 << 21) if f & 4096 else 0)
    return out
def bind(path, ro=True):
    dst = cfg["root"] + path
    if os.path.isdir(path):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()
    mount(path, dst, None, BIND | REC)
    if ro:
        mount(None, dst, None, REMOUNT | BIND | RDONLY | locked(dst))
root = cfg["root"]
mount(None, "/", None, REC | PRIVATE)
mount("tmpfs", root, "tmpfs", NOSUID | NODEV)
os.makedirs(root + "/tmp")
mount("tmpfs", root + "/tmp", "tmpfs", NOSUID | NODEV)
for link, target in cfg["symlinks"]:
    os.makedirs(os.path.dirname(root + link), exist_ok=True)
    os.symlink(target, root + link)
for path in cfg["ro"]:
    bind(path)
for dev in ("null", "zero", "random", "urandom"):
    bind("/dev/" + dev, ro=False)
os.makedirs(root + "/proc")
mount("proc", root + "/proc", "proc", NOSUID | NODEV | NOEXEC)
os.makedirs(root + "/.old")
if libc.syscall(cfg["pivot_root"], root.encode(), (root + "/.old").encode()) != 0:
    raise OSError(ctypes.get_errno(), "sandbox: pivot_root failed")
os.chdir("/")
libc.umount2(b"/.old", 2)  # MNT_DETACH: the host's filesystem is gone from this namespace
os.rmdir("/.old")
mount(None, "/", None, REMOUNT | BIND | RDONLY | NOSUID | NODEV)
for cap in range(64):
    libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP: exec'd as root, the plugin still gets no capability
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
os.chdir(cfg["cwd"])
os.execve(argv[0], argv, os.environ)
"""
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


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


@functools.cache
def _probe_unshare(unshare: str) -> str | None:
    if os.uname().machine not in _PIVOT_ROOT:
        return f"no pivot_root syscall number known for {os.uname().machine}"
    try:
        done = subprocess.run([unshare, "--user", "--map-root-user", "--pid", "--fork", "--net", "--mount", "--ipc",
                               "--uts", "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}")


def check_available() -> str:
    """The tool to use (a bwrap binary, or "unshare:" + an unshare binary), or SandboxUnavailable."""
    bwrap = bwrap_path()
    if bwrap is None or not os.path.exists(bwrap):
        unshare = unshare_path()
        why_not = _probe_unshare(unshare) if unshare is not None and os.path.exists(unshare) else "not installed"
        if why_not is None:
            return "unshare:" + str(unshare)
        raise SandboxUnavailable(
            f"--sandbox needs bubblewrap (`bwrap`), which is not installed, or `unshare` (util-linux) with user "
            f"namespaces ({why_not})",
            hint="install bubblewrap (`apt-get install bubblewrap`, `dnf install bubblewrap`), "
                 "or run without --sandbox",
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
    """Wrap `argv` in bubblewrap (or unshare). The environment passes through as given (already allow-listed)."""
    bwrap = check_available()
    env = {**env, "TMPDIR": "/tmp", "HOME": "/tmp"}
    if bwrap.startswith("unshare:"):
        return _unshare_command(bwrap.removeprefix("unshare:"), spec, argv, env), env
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
    return [*args, "--", *argv], env


@functools.cache
def _empty_root() -> str:
    """A mount point for the sandbox's root (each plugin mounts its own tmpfs over it in its namespace): one
    empty folder per user, reused, so no host process leaves one behind."""
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"plughost-sandbox-root-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
        return tempfile.mkdtemp(prefix="plughost-sandbox-root-")  # someone else's: use a private one
    return path


def _unshare_command(unshare: str, spec: LaunchSpec, argv: list[str], env: dict[str, str]) -> list[str]:
    symlinks = [(d, os.readlink(d)) for d in SYSTEM_DIRS if os.path.islink(d)]
    ro = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    ro += [f for f in SYSTEM_FILES if os.path.exists(f)]
    ro += [str(p) for p in _runtime_paths(spec, argv, env)]
    plugin_dir = str(Path(os.path.realpath(spec.plugin_dir)))
    ro.append(plugin_dir)
    config = {"root": _empty_root(), "symlinks": symlinks, "ro": ro, "cwd": plugin_dir,
              "pivot_root": _PIVOT_ROOT[os.uname().machine]}
    return [unshare, "--user", "--map-root-user", "--pid", "--fork", "--net", "--mount", "--ipc", "--uts",
            "--kill-child", sys.executable, "-I", "-S", "-c", _UNSHARE_SETUP, json.dumps(config), *argv]
