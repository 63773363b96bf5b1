"""Shared fixtures. Every test is checked for leftover child processes: a plugin host that leaks
processes is broken, so a leak fails the test that caused it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from plughost.client.proxies import FeatureProxy, StrategyProxy, Timeouts, start_plugin
from plughost.transport.process import LaunchSpec
from plughost.transport.reaper import REAPER

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


def _children() -> list[psutil.Process]:
    reaper = REAPER.pid
    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    return [k for k in kids if k.pid != reaper and _alive(k)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    before = {p.pid for p in _children()}
    yield
    deadline = time.monotonic() + 3.0
    left = [p for p in _children() if p.pid not in before]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in _children() if p.pid not in before]
    for proc in left:  # clean up so one leak does not cascade into every later test
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not left, f"child processes left behind: {[(p.pid, p.name()) for p in left]}"


def python_spec(module: str, *, name: str | None = None, plugin_type: str = "strategy",
                extra_env: dict[str, str] | None = None) -> LaunchSpec:
    path = FIXTURES / "python" / module
    return LaunchSpec(name or path.stem, plugin_type, "python", path, path.parent, dict(extra_env or {}))


@pytest.fixture
def start() -> Iterator[Callable[..., StrategyProxy | FeatureProxy]]:
    """Start a fixture plugin; everything started is closed after the test."""
    started: list[StrategyProxy | FeatureProxy] = []

    def _start(spec: LaunchSpec, **timeouts: float) -> StrategyProxy | FeatureProxy:
        t = Timeouts(**{"start": 10.0, "call": 10.0, "term_grace": 1.0, **timeouts})
        proxy = start_plugin(spec, timeouts=t)
        started.append(proxy)
        return proxy

    yield _start
    for proxy in started:
        proxy.close()


@pytest.fixture(autouse=True)
def plughost_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PLUGHOST_HOME and none of the caller's plugin path or config overrides."""
    home = tmp_path / "plughost-home"
    monkeypatch.setenv("PLUGHOST_HOME", str(home))
    monkeypatch.delenv("PLUGHOST_PLUGIN_PATH", raising=False)
    for var in list(os.environ):
        if var.startswith("PLUGHOST_CFG_"):
            monkeypatch.delenv(var)
    return home


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True

