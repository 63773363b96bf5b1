"""A `plughost run --batch` host with faults wired in through the batch's seams (BatchHooks, RunHooks):
SIGKILL the host at a named point, or a worker and its host in the middle of a run's write. Test-only; the
production host has no fault switches.

    python faulty_host.py FAULT --batch FILE --out DIR --plugins-dir DIR [--workers N] [--resume] [--json]

FAULT is one of
    before-dispatch:K   just before the K-th dispatch (0-based)
    after-files:K       when the K-th result arrives (its files renamed into place), before its journal commit
    after-journal:K     right after the K-th journal commit
    mid-write:RUN_ID    (in the worker) when RUN_ID's files are complete but not yet renamed

The workers of a mid-write host run this file too (`worker RUN_ID ...`): a worker is a fresh interpreter,
so it wires its own RunHooks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

from plughost.batch.batchhooks import BatchHooks, BatchPoint
from plughost.batch.cli import run_batch_command
from plughost.batch.worker import main as worker_main
from plughost.errors import PlughostError
from plughost.executor.runhooks import RunHooks


class KillAt:
    """SIGKILL this host the K-th time (0-based) the runner reaches `point`."""

    def __init__(self, point: str, count: int) -> None:
        self.point = point
        self.count = count
        self.seen = 0

    def __call__(self, point: BatchPoint, run_id: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen - 1 == self.count:
            os.kill(os.getpid(), signal.SIGKILL)


def kill_before_publishing(run_id: str) -> RunHooks:
    """A worker's hooks: when `run_id`'s files are complete in their temporary folder, SIGKILL the host and
    this worker before the rename (a host killed in the middle of a run's write)."""

    def before_publish(final: Path) -> None:
        if final.name == run_id:
            with contextlib.suppress(OSError):
                os.kill(os.getppid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)

    return RunHooks(before_publish=before_publish)


def host(fault: str, argv: list[str]) -> int:
    point, _, arg = fault.partition(":")
    if point == "mid-write":
        hooks = BatchHooks(worker_command=(sys.executable, __file__, "worker", arg))
    else:
        hooks = BatchHooks(at=KillAt(point, int(arg)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--plugins-dir", type=Path, action="append", default=[])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run_batch_command(args.batch, out_dir=args.out, workers=args.workers, resume=args.resume,
                                 engine="local", address=None, plugins_dirs=args.plugins_dir, as_json=args.json,
                                 start_timeout=None, call_timeout=None, hooks=hooks)
    except PlughostError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker_main(sys.argv[3:], hooks=kill_before_publishing(sys.argv[2]))
    else:
        sys.exit(host(sys.argv[1], sys.argv[2:]))
