"""Resources: a memory cap per plugin, whole descendant trees killed, and no host leak over many crashes."""

from __future__ import annotations

import gc
import os
import threading
import time

import psutil
import pytest

from tests.faults.conftest import LANGS, STRATEGY, Runner, failed_error, host_fds, token_processes


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.parametrize("lang", LANGS)
def test_memory_limit_ends_an_unbounded_allocator(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    runner.baseline(name)
    before = rss_mb()
    began = time.monotonic()
    outcome = runner.run(name, "alloc", memory_limit_mb=200)
    assert time.monotonic() - began < 5.0
    error = failed_error(outcome, "RESOURCE_LIMIT", name)
    assert error["resource"] == "memory" and error["limit_mb"] == 200
    assert "memory" in error["message"] and "200 MB" in error["message"]
    assert rss_mb() - before < 20  # the host's memory did not move
    runner.assert_clean_run_identical(name)


def test_memory_limit_leaves_a_modest_plugin_alone(runner: Runner) -> None:
    outcome = runner.run("faulty-py", memory_limit_mb=300)
    assert outcome.status == "ok", outcome.summary["error"]


@pytest.mark.parametrize("setsid", [False, True], ids=["same-session", "setsid"])
def test_fifty_descendants_then_crash_all_killed(runner: Runner, setsid: bool) -> None:
    env = {"FAULT_SETSID": "1"} if setsid else {}
    outcome = runner.run("faulty-py", "spawn50", env=env)
    error = failed_error(outcome, "PLUGIN_CRASHED", "faulty-py")
    assert error["exit_code"] == 1
    # run_backtest has returned: every descendant must already be gone (the autouse check waits 3 s more)
    deadline = time.monotonic() + 1.0
    while token_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token_processes() == []
    runner.assert_clean_run_identical("faulty-py")


@pytest.mark.node
@pytest.mark.parametrize("lang", LANGS[1:])
def test_fifty_descendants_then_crash_all_killed_node(runner: Runner, lang: str) -> None:
    error = failed_error(runner.run("faulty-js", "spawn50"), "PLUGIN_CRASHED", "faulty-js")
    assert error["exit_code"] == 1
    runner.assert_clean_run_identical("faulty-js")


def _host_usage() -> tuple[int, int, float]:
    gc.collect()
    return host_fds(), threading.active_count() + psutil.Process().num_threads(), rss_mb()


def crash_loop(runner: Runner, runs: int, warmup: int) -> dict[str, float]:
    """`runs` sequential runs whose plugin crashes mid-call; host fds, threads and RSS before and after."""
    faults = ["exit_mid_call", "segv", "exit0_no_reply", "sigkill_self"]
    for i in range(warmup):
        runner.run("faulty-py", faults[i % len(faults)])
    fds0, threads0, rss0 = _host_usage()
    began = time.monotonic()
    for i in range(runs):
        outcome = runner.run("faulty-py", faults[i % len(faults)])
        assert outcome.status == "failed" and outcome.summary["error"]["code"] == "PLUGIN_CRASHED"
    took = time.monotonic() - began
    fds1, threads1, rss1 = _host_usage()
    zombies = [p for p in psutil.Process().children(recursive=True) if p.status() == psutil.STATUS_ZOMBIE]
    assert not zombies, zombies
    assert fds1 <= fds0, f"host file descriptors grew from {fds0} to {fds1}"
    assert threads1 <= threads0, f"host threads grew from {threads0} to {threads1}"
    return {"fds": fds1 - fds0, "threads": threads1 - threads0, "rss_mb": rss1 - rss0, "runs_per_s": runs / took,
            "rss0": rss0}


def test_sequential_crashing_runs_leak_nothing_quick(runner: Runner) -> None:
    usage = crash_loop(runner, runs=12, warmup=4)
    assert usage["rss_mb"] < 10, usage


@pytest.mark.slow
def test_a_thousand_sequential_crashing_runs_leak_nothing(runner: Runner) -> None:
    usage = crash_loop(runner, runs=1000, warmup=50)
    assert usage["rss_mb"] < max(5.0, 0.05 * usage["rss0"]), usage  # within 5% after warm-up
    print(f"1000 crashing runs: {usage}", file=os.sys.stderr)
