"""The `plughost` command's entry point: the CLI, with Ctrl-C at any moment (even while Python is still
importing the CLI's modules) ending in one line and exit status 130, never a traceback (nor click's
"Aborted!" with status 1). A finished command leaves without the interpreter's teardown when that is safe
(`_leave`): only here, never in the CLI's or the API's functions, which callers run in their own process."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def _interrupted() -> NoReturn:
    try:
        sys.stderr.write("error [INTERRUPTED]: stopped by Ctrl-C\n"
                         "  -> a batch continues where it stopped with --resume\n")
        sys.stderr.flush()
    except BaseException:  # a second Ctrl-C while reporting the first: still 130
        pass
    sys.exit(130)


def _command() -> int:
    """Run the command line; its exit status (a message of click's or ours is written already)."""
    import click

    from .cli import main as cli_main

    try:  # click's own standalone mode, except that an interruption is ours to report
        code = cli_main(standalone_mode=False)
    except click.exceptions.Abort:
        _interrupted()
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:  # a command's own status (a failed run: 1, bad input: 2)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        raise  # a message as the status: Python prints it
    return code if isinstance(code, int) else 0


def main() -> None:
    try:
        status = _command()
    except KeyboardInterrupt:
        _interrupted()
    _leave(status)


def _leave(status: int) -> NoReturn:
    """Exit with `status`. After a 1M-candle run the interpreter's teardown (freeing every module and what
    the run left in memory) takes ~0.1-0.2 s the user waits for and nothing needs (docs/performance.md).
    It is skipped when that changes nothing: stdout and stderr flushed, the atexit handlers run (logging,
    thread pools, temporary folders), no other thread still working and no file open for writing (whose
    buffer a finalizer might still flush). Otherwise, or where this cannot be checked, the usual exit."""
    import atexit
    import threading

    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)  # CPython's; elsewhere the usual exit
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed pipe, a full disk: the usual exit reports it as Python does
        sys.exit(status)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if run_exitfuncs is None or others or not _no_file_open_for_writing():
        sys.exit(status)
    run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        sys.exit(status)
    os._exit(status)


def _no_file_open_for_writing() -> bool:
    """True when no descriptor but 0-2 is a regular file open for writing (Linux: /proc/self/fd)."""
    import fcntl
    import stat

    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        return False
    for fd in fds:
        if fd <= 2:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & (os.O_WRONLY | os.O_RDWR):
                return False
        except OSError:  # closed since the listing (the listing's own descriptor among them)
            continue
    return True
