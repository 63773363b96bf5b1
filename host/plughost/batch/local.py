"""The local engine: N worker processes on this machine, one run at a time each.

Workers are fresh interpreters (`python -c ...worker.main()`, no fork of a host with threads, and no
multiprocessing helper processes) speaking pickled messages over two pipes; they die with the host
(PR_SET_PDEATHSIG) and take their plugins with them (each worker's reaper). A worker that dies mid-run
fails only that run (`WORKER_LOST`) and is replaced; Ctrl-C SIGTERMs busy workers, which kill their plugins and exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..errors import WorkerLost
from .engine import Completion
from .job import BatchJob, JobResult

_READY_TIMEOUT = 60.0
# Ctrl-C is the host's to handle: a worker ignores SIGINT from its first line, so a Ctrl-C while it is
# still importing cannot print a traceback (the host stops it).
_WORKER_MAIN = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "from plughost.batch.worker import main; main()")


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    send: Connection
    conn: Connection          # results from the worker
    sentinel: int             # a pidfd: readable when the worker exits
    job: BatchJob | None = None
    ready: bool = False
    warm: bool = False

    def close(self) -> None:
        for c in (self.send, self.conn):
            with contextlib.suppress(OSError):
                c.close()
        with contextlib.suppress(OSError):
            os.close(self.sentinel)


class LocalEngine:
    name = "local"

    def __init__(self, workers: int, *, roots: list[Path], out_dir: Path, warm: bool,
                 worker_command: tuple[str, ...] | None = None) -> None:
        self.size = max(1, workers)
        self.roots = [str(r) for r in roots]
        self.out_dir = str(out_dir)
        self.warm = warm
        # what starts a worker: plughost's own, or a test's worker program that wires in its hooks (BatchHooks)
        self.worker_command = worker_command or (sys.executable, "-c", _WORKER_MAIN)
        self._workers: list[_Worker] = []
        self.replaced = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        config = {"parent": os.getpid(), "roots": self.roots, "out_dir": self.out_dir, "warm": self.warm}
        try:
            proc = subprocess.Popen(
                [*self.worker_command, str(to_worker_r), str(from_worker_w), json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(), pass_fds=(to_worker_r, from_worker_w),
                close_fds=True,
            )
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        return _Worker(proc, Connection(to_worker_w, readable=False), Connection(from_worker_r, writable=False),
                       os.pidfd_open(proc.pid))

    def start(self) -> None:
        self._workers = [self._spawn() for _ in range(self.size)]
        deadline = time.monotonic() + _READY_TIMEOUT
        for w in self._workers:
            self._await_ready(w, deadline)

    def _await_ready(self, w: _Worker, deadline: float) -> None:
        while not w.ready:
            left = deadline - time.monotonic()
            if left <= 0 or (w.proc.poll() is not None and not w.conn.poll()):
                raise WorkerLost(f"a batch worker process did not start (exit code {w.proc.returncode})",
                                 exit_code=w.proc.returncode, hint="its error is on stderr above")
            if w.conn.poll(min(left, 0.2)):
                try:
                    msg = w.conn.recv()
                except EOFError:
                    continue
                w.ready = True
                w.warm = bool(msg.get("warm"))

    @property
    def warm_active(self) -> bool:
        return any(w.warm for w in self._workers)

    def free_slots(self) -> int:
        return sum(1 for w in self._workers if w.job is None)

    def in_flight(self) -> list[BatchJob]:
        return [w.job for w in self._workers if w.job is not None]

    def submit(self, job: BatchJob) -> str:
        for w in self._workers:
            if w.job is None:
                job = replace(job, dispatched=time.monotonic())
                w.send.send(job)
                w.job = job
                return f"{os.uname().nodename}:{w.proc.pid}"
        raise RuntimeError("submit() with no free worker")

    def poll(self, timeout: float) -> list[Completion]:
        busy = [w for w in self._workers if w.job is not None]
        if not busy:
            time.sleep(min(timeout, 0.05))
            return []
        handles: list[Any] = [w.conn for w in busy] + [w.sentinel for w in busy]
        ready = wait(handles, timeout)
        done: list[Completion] = []
        for w in busy:
            if w.conn not in ready and w.sentinel not in ready:
                continue
            job = w.job
            assert job is not None
            result: JobResult | None = None
            with contextlib.suppress(EOFError, OSError):
                if w.conn.poll():
                    result = w.conn.recv()
            if result is not None:
                w.job = None
                done.append(Completion(job, result, None))
                continue
            # the worker died without answering: fail the run, replace the worker
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(1.0)
            code = w.proc.returncode
            lost = WorkerLost(
                f"the worker process running {job.run_id} died (exit code {code}) before it reported a result",
                exit_code=code, hint="the run will be retried; if it keeps happening, run it alone with "
                "`plughost run` to see what kills its host process (memory limit, OOM killer)")
            done.append(Completion(job, None, lost))
            self._replace(w)
        return done

    def _replace(self, w: _Worker) -> None:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait()
        w.close()
        idx = self._workers.index(w)
        fresh = self._spawn()
        self._workers[idx] = fresh
        self.replaced += 1
        self._await_ready(fresh, time.monotonic() + _READY_TIMEOUT)

    def stop(self, *, interrupt: bool = False) -> None:
        """Idle workers get a polite stop; busy ones (interrupt) a SIGTERM: they kill their plugins and exit."""
        for w in self._workers:
            if w.job is None or not interrupt:
                with contextlib.suppress(OSError, ValueError):
                    w.send.send(None)
            else:
                with contextlib.suppress(OSError):
                    w.proc.terminate()
        deadline = time.monotonic() + 10.0
        for w in self._workers:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            w.close()
        self._workers = []
