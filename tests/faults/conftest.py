"""Harness for the fault-tolerance suite: a plugins folder holding the misbehaving fixture plugins, a
small candle file, a way to run one backtest through `run_backtest`, and the checks every case shares.

Every plugin started here carries `FAULT_SUITE_TOKEN` in its environment, and so do all of its
descendants (unless they clear their environment), so "nothing is left" is checked over every process
on the machine, not only over our own children: an orphan re-parented to init is still found.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
import pytest
from plughost.executor.engine import RunOutcome, run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry
from plughost.transport.process import node_runner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"
TOKEN_VAR = "FAULT_SUITE_TOKEN"
TOKEN = uuid.uuid4().hex

NODE_OK = shutil.which("node") is not None and node_runner().is_file()
NODE_SKIP = f"the TypeScript SDK runner {node_runner()} is not built (run `npm run build`), or node is missing"

# Python variants always run; Node variants need the built TypeScript runner.
LANGS = [
    pytest.param("py", id="py"),
    pytest.param("js", id="js", marks=[pytest.mark.node, pytest.mark.skipif(not NODE_OK, reason=NODE_SKIP)]),
]
STRATEGY = {"py": "faulty-py", "js": "faulty-js"}


def token_processes() -> list[psutil.Process]:
    """Every live process carrying this session's token: plugin processes and all their descendants."""
    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        try:
            env = proc.info["environ"] or {}
            if env.get(TOKEN_VAR) == TOKEN and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_no_token_processes(timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = token_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = token_processes()
    return left


@pytest.fixture(autouse=True)
def no_plugin_descendants_left() -> Iterator[None]:
    """Stronger than the repo-wide child check: nothing started for a plugin survives, orphans included."""
    yield
    left = wait_no_token_processes(3.0)
    names = []
    for proc in left:
        try:
            names.append((proc.pid, proc.name(), proc.ppid()))
            proc.kill()
        except psutil.Error:
            pass
    assert not left, f"plugin processes or descendants left behind: {names}"


def write_candles(path: Path, n: int = 40) -> Path:
    """Deterministic candles with up and down closes (so the clean strategy trades)."""
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(n):
        base = 100.0 + (i % 7) * 0.5 + i * 0.1
        close = base + (0.7 if (i * 5) % 3 else -0.6)
        lines.append(f"{i * 60_000},{base:.2f},{max(base, close) + 0.3:.2f},{min(base, close) - 0.3:.2f},"
                     f"{close:.2f},{10 + i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _plugin(root: Path, name: str, language: str, source: Path, entry: str) -> None:
    folder = root / "strategies" / name
    folder.mkdir(parents=True)
    shutil.copy(source, folder / entry)
    manifest = {"name": name, "version": "1.0.0", "type": "strategy", "language": language, "entry": entry}
    (folder / "plugin.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="session")
def plugins_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fault-plugins")
    _plugin(root, "faulty-py", "python", FIXTURES / "python" / "faulty.py", "main.py")
    _plugin(root, "raw-wire", "python", FIXTURES / "python" / "raw_wire.py", "main.py")
    _plugin(root, "faulty-js", "javascript", FIXTURES / "node" / "faulty.js", "main.js")
    return root


@pytest.fixture(scope="session")
def candles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_candles(tmp_path_factory.mktemp("fault-data") / "TEST.csv")


@pytest.fixture(scope="session")
def registry(plugins_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry.discover([plugins_root], home=tmp_path_factory.mktemp("fault-home"), use_cache=False)


Fingerprint = dict[str, Any]


def fingerprint(outcome: RunOutcome) -> Fingerprint:
    """What must be identical between two clean runs: metrics, counts, trades and the equity curve."""
    assert outcome.run_dir is not None
    summary = json.loads((outcome.run_dir / "summary.json").read_text())
    return {
        "status": summary["status"],
        "metrics": summary["metrics"],
        "ignored": summary["ignored_signals"],
        "rejected": summary["rejected_signals"],
        "candles": summary["candles"],
        "trades": pq.read_table(outcome.run_dir / "trades.parquet").to_pylist(),
        "equity": pq.read_table(outcome.run_dir / "equity.parquet").to_pylist(),
    }


@dataclass
class Runner:
    registry: Registry
    candles: Path
    out_dir: Path
    baselines: dict[str, Fingerprint]
    count: int = 0

    def run(self, strategy: str, fault: str | None = None, *, env: dict[str, str] | None = None,
            **run_keys: Any) -> RunOutcome:
        self.count += 1
        full_env = {TOKEN_VAR: TOKEN, **(env or {})}
        if fault:
            full_env["FAULT"] = fault
        data = {"strategy": strategy, "candles": str(self.candles), "env": full_env,
                "start_timeout": 5.0, "call_timeout": 5.0, **run_keys}
        run = RunConfig.parse(data)
        return run_backtest(run, registry=self.registry, out_dir=self.out_dir, run_id=f"run-{self.count}")

    def baseline(self, strategy: str) -> Fingerprint:
        if strategy not in self.baselines:
            outcome = self.run(strategy)
            assert outcome.status == "ok", outcome.summary["error"]
            self.baselines[strategy] = fingerprint(outcome)
            assert self.baselines[strategy]["trades"], "the clean strategy must trade for the comparison to mean much"
        return self.baselines[strategy]

    def assert_clean_run_identical(self, strategy: str) -> None:
        """A clean run after the bad one gives exactly the results of a run that never saw it."""
        expected = self.baseline(strategy)
        outcome = self.run(strategy)
        assert outcome.status == "ok", outcome.summary["error"]
        assert fingerprint(outcome) == expected


_BASELINES: dict[str, Fingerprint] = {}


@pytest.fixture
def runner(registry: Registry, candles: Path, tmp_path: Path) -> Runner:
    return Runner(registry, candles, tmp_path / "out", _BASELINES)


def failed_error(outcome: RunOutcome, code: str, plugin: str) -> dict[str, Any]:
    """The run failed with `code` for `plugin`, and its summary.json on disk says the same."""
    assert outcome.status == "failed", f"expected {code}, the run succeeded"
    error = outcome.summary["error"]
    assert error["code"] == code, error
    assert error["plugin"] == plugin, error
    assert outcome.run_dir is not None
    on_disk = json.loads((outcome.run_dir / "summary.json").read_text())
    assert on_disk["status"] == "failed" and on_disk["error"]["code"] == code
    return error


def host_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


ProcessCheck = Callable[[], list[psutil.Process]]
