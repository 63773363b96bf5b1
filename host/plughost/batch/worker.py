"""What runs inside a worker (a local pool process or a Ray task): one `run_backtest` per job.

A job is a `BatchJob` and its result a `JobResult` (batch/job.py: plain fields, picklable).

Start cost: the time from dispatch to the strategy's completed handshake (`start_cost_s`), and the
strategy's spawn-to-handshake time (`spawn_s`), measured by the plugin loader this worker passes to the run
(`RunHooks.load_plugin`, wrapping the one it was given). With warm starts on (`enable_warm`, once per worker
process) the worker's runs start their Python plugins from a fork server and their Node plugins from a
Node runner started ahead of time (a `WarmSpawner` passed to `run_backtest`); otherwise cold.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from ..errors import PlughostError
from ..executor.results import disk_full_guard
from ..executor.runconfig import RunConfig
from ..executor.runhooks import PluginLoader, RunHooks
from ..plugins.registry import PluginEntry, Registry
from ..transport.process import COLD, Spawner
from .job import BatchJob, JobResult

log = logging.getLogger("plughost.batch.worker")

_spawner: Spawner = COLD  # how this worker's runs start their plugins (`enable_warm`)


def _timed(load: PluginLoader, stamps: dict[str, float]) -> PluginLoader:
    """`load`, recording when the strategy's handshake completes (for start-cost figures)."""

    def timed_load_plugin(entry: PluginEntry, **kwargs: Any) -> Any:
        began = time.monotonic()
        proxy = load(entry, **kwargs)
        if entry.type == "strategy" and "strategy_ready" not in stamps:
            stamps["strategy_ready"] = time.monotonic()
            stamps["strategy_spawn"] = stamps["strategy_ready"] - began
        return proxy

    return timed_load_plugin


def enable_warm(enabled: bool) -> bool:
    """Turn on warm starts in this process when asked and available. Returns whether they are on."""
    global _spawner
    if not enabled or _spawner.warm:
        return _spawner.warm
    try:
        from ..transport.warm import WarmSpawner
    except ImportError:
        return False
    try:
        _spawner = WarmSpawner()
    except Exception as exc:  # never fail a batch because the optimisation failed
        log.warning("warm starts unavailable: %s", exc)
        return False
    return True


def disable_warm() -> None:
    global _spawner
    spawner, _spawner = _spawner, COLD
    with contextlib.suppress(Exception):
        spawner.close()


def execute_job(job: BatchJob, registry: Registry, out_dir: Path, hooks: RunHooks | None = None) -> JobResult:
    """Run one job; never raises for the run's own faults. `hooks`: the run's seams (test faults); this
    worker adds its start-cost timing to their plugin loader."""
    from ..executor.engine import run_backtest

    hooks = hooks or RunHooks()
    stamps: dict[str, float] = {}
    timed = replace(hooks, load_plugin=_timed(hooks.load_plugin, stamps))
    began = time.monotonic()
    wall = time.time()
    try:
        run = RunConfig.model_validate(job.run)
        with disk_full_guard(out_dir, job.run_id):
            outcome = run_backtest(run, registry=registry, out_dir=out_dir, run_id=job.run_id,
                                   base_dir=Path(job.base_dir), progress=None, spawner=_spawner, hooks=timed)
    except Exception as exc:  # no result could be written (a full disk, a host bug): report it, keep the worker
        error = exc if isinstance(exc, PlughostError) else PlughostError(
            f"internal error: {type(exc).__name__}: {exc}", hint="this is a plughost bug; please report it")
        return JobResult(job.run_id, job.attempt, "failed", error=error.to_dict(), started_at=wall,
                         duration_s=round(time.monotonic() - began, 6),
                         worker=f"{os.uname().nodename}:{os.getpid()}", warm=_spawner.warm)
    ready = stamps.get("strategy_ready")
    dispatched = job.dispatched
    summary = outcome.summary
    return JobResult(
        job.run_id, job.attempt, outcome.status, error=summary.get("error"), metrics=summary.get("metrics"),
        plugin_metrics=summary.get("plugin_metrics"), started_at=wall, duration_s=round(time.monotonic() - began, 6),
        start_cost_s=(ready - dispatched) if ready is not None and dispatched is not None else None,
        task_start_cost_s=(ready - began) if ready is not None else None, spawn_s=stamps.get("strategy_spawn"),
        worker=f"{os.uname().nodename}:{os.getpid()}", warm=_spawner.warm)


# ------------------------------------------------------------------------------------ local pool process


class _Stop(BaseException):
    """SIGTERM from the host: stop the current run now."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Stop()


def _die_with_parent(parent: int) -> None:
    """SIGKILL this worker when the host dies (Linux), so its reaper then kills its plugins."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the host died before prctl
        os._exit(1)


def kill_plugin_children() -> None:
    """Kill every plugin process group this worker started (they are session leaders), then reap them."""
    from ..transport.reaper import REAPER

    me = psutil.Process()
    kids = [k for k in me.children() if k.pid != REAPER.pid]
    for kid in kids:
        with contextlib.suppress(OSError):
            os.killpg(kid.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            kid.kill()
    psutil.wait_procs(kids, timeout=2.0)


def main(argv: list[str] | None = None, *, hooks: RunHooks | None = None) -> None:
    """Entry of a local pool process: `python -c "...main()" IN_FD OUT_FD CONFIG_JSON` (see local.py). A
    test's worker program (BatchHooks.worker_command) calls it with the rest of its argv and its hooks."""
    in_fd, out_fd, raw = (sys.argv[1:] if argv is None else argv)[:3]
    config = json.loads(raw)
    worker_main(Connection(int(in_fd), writable=False), Connection(int(out_fd), readable=False), config["parent"],
                config["roots"], config["out_dir"], config["warm"], hooks)


def worker_main(conn_in: Connection, conn: Connection, parent: int, roots: list[str], out_dir: str, warm: bool,
                hooks: RunHooks | None = None) -> None:
    """A local pool process: receive jobs, run them, send results, until told to stop (None) or killed."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = 0
    try:
        registry = Registry.discover([Path(r) for r in roots])
        enable_warm(warm)
        conn.send({"ready": os.getpid(), "warm": _spawner.warm})
        while True:
            try:
                job = conn_in.recv()
            except EOFError:
                break
            if job is None:
                break
            conn.send(execute_job(job, registry, Path(out_dir), hooks))
    except _Stop:
        code = 143
    except BaseException as exc:  # report and die: the host replaces this worker
        with contextlib.suppress(Exception):
            print(f"plughost batch worker {os.getpid()} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        disable_warm()
        kill_plugin_children()
    os._exit(code)
