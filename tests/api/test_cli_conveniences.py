"""Small things users expect from the CLI: a progress bar with a total and ETA, `plughost results` on single
runs (and `--sort`), plugin names in shell completion, and the bundled examples found from any folder."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "BTCUSD-1m.parquet"
PLUGHOST = [sys.executable, "-m", "plughost"]


def _cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLUGHOST, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)


def test_the_engine_reports_progress_against_the_candle_count(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    run = RunConfig.parse({"strategy": "sma-cross", "candles": str(SAMPLE), "batch_size": 1000})
    outcome = run_backtest(run, registry=Registry.discover([REPO / "plugins"]), out_dir=tmp_path, run_id="p",
                           progress=lambda n, total: calls.append((n, total)))
    assert outcome.status == "ok"
    assert calls[0] == (0, 5000)  # the total comes before the first candle
    assert {total for _, total in calls} == {5000} and sum(n for n, _ in calls) == 5000 and len(calls) > 2


def test_a_single_run_on_a_terminal_shows_done_of_total_and_eta(tmp_path: Path) -> None:
    master, slave = os.openpty()  # a real terminal on stderr: the bar is drawn only there
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen([*PLUGHOST, "run", "--strategy", "sma-cross", "--candles", str(SAMPLE), "--out",
                             str(tmp_path / "out")], cwd=REPO, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(30) == 0
    text = seen.decode(errors="replace")
    assert "5000/5000" in text and "candles" in text and "100%" in text and "ETA" in text, text[-500:]


def test_results_lists_single_runs_and_sorts_them(tmp_path: Path) -> None:
    for fast, run_id in ((5, "fast5"), (12, "fast12")):
        config = tmp_path / f"{run_id}.json"
        config.write_text(json.dumps({"fast": fast, "slow": 40}))
        r = _cli("run", "--strategy", "sma-cross", "--candles", SAMPLE, "--config", config, "--out", "out",
                 "--run-id", run_id, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    r = _cli("results", "out", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert sorted(row["run_id"] for row in rows) == ["fast12", "fast5"]
    assert all(row["status"] == "ok" and row["metrics"]["num_trades"] > 0 for row in rows)
    by_trades = {row["run_id"]: row["metrics"]["num_trades"] for row in rows}
    r = _cli("results", "out", "--sort", "num_trades", "--json", cwd=tmp_path)
    assert [row["run_id"] for row in json.loads(r.stdout)] == sorted(by_trades, key=lambda k: -by_trades[k])
    r = _cli("results", "out", "--sort", "max_drawdown", cwd=tmp_path)  # smallest drawdown first
    assert r.returncode == 0 and "fast5" in r.stdout and "fast12" in r.stdout
    r = _cli("results", "out", "--sort", "sharpness", cwd=tmp_path)
    assert r.returncode == 2 and "sharpe" in r.stderr and "Traceback" not in r.stderr
    r = _cli("results", ".", cwd=tmp_path)
    assert r.returncode == 2 and "holds no runs" in r.stderr


def _complete(words: str, cwd: Path, env_extra: dict[str, str] | None = None) -> list[str]:
    env = {**os.environ, "_PLUGHOST_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1), **(env_extra or {})}
    env.pop("PLUGHOST_PLUGIN_PATH", None)
    out = subprocess.run([*PLUGHOST], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return [line.split(",", 1)[1] for line in out.stdout.splitlines() if "," in line]


def test_shell_completion_offers_plugin_names(tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "my-feature"
    mine.mkdir(parents=True)
    (mine / "plugin.json").write_text(json.dumps(
        {"name": "my-feature", "version": "1.0.0", "type": "feature", "language": "python", "entry": "f.py"}))
    (mine / "f.py").write_text("from plughost_sdk import FeaturePlugin\nclass F(FeaturePlugin):\n    pass\n")
    assert _complete("plughost run --strategy s", tmp_path) == ["simple-ma", "sma-cross"]  # bundled examples
    strategies = _complete("plughost run --strategy ", tmp_path)
    assert {"rsi-strategy", "simple-ma", "sma-cross"} <= set(strategies) and "custom-metrics" not in strategies
    assert _complete(f"plughost run --plugins-dir {tmp_path / 'mine'} --feature m", tmp_path) == ["my-feature"]
    assert "visualization" in _complete("plughost run --feature ", tmp_path)
    assert _complete("plughost validate-plugin rsi", tmp_path) == ["rsi-strategy"]
    assert _complete("plughost disable-plugin cust", tmp_path) == ["custom-metrics"]
    script = subprocess.run([*PLUGHOST], env={**os.environ, "_PLUGHOST_COMPLETE": "bash_source"},
                            capture_output=True, text=True, timeout=60)
    assert "_plughost_completion" in script.stdout and "complete " in script.stdout


def test_bundled_examples_are_the_last_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From a folder without ./plugins the examples are found by name; a plugin of the same name in the user's
    folder wins over the example instead of being a duplicate."""
    monkeypatch.delenv("PLUGHOST_PLUGIN_PATH", raising=False)
    r = _cli("list-plugins", "--json", cwd=tmp_path)
    listed = {p["name"]: p for p in json.loads(r.stdout)["plugins"]}
    assert listed["sma-cross"]["bundled"] is True and listed["simple-ma"]["valid"] is True
    r = _cli("list-plugins", "--plugins-dir", tmp_path, cwd=tmp_path)
    assert r.stdout == "" and "bundled examples" in r.stderr  # an explicit folder lists only itself
    own = tmp_path / "plugins" / "sma-cross"
    own.mkdir(parents=True)
    (own / "plugin.json").write_text(json.dumps(
        {"name": "sma-cross", "version": "9.0.0", "type": "strategy", "language": "python", "entry": "s.py"}))
    (own / "s.py").write_text("from plughost_sdk import StrategyPlugin\nclass S(StrategyPlugin):\n"
                              "    def on_candle(self, candle, ctx):\n        return None\n")
    registry = Registry.discover(cwd_roots := [tmp_path / "plugins"])
    assert registry.get("sma-cross").version == "9.0.0" and registry.get("rsi-strategy").path.is_dir()
    assert cwd_roots == registry.roots
    r = _cli("run", "--strategy", "sma-cross", "--candles", SAMPLE, "--json", "--out", "o", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["num_trades"] == 0  # the user's own sma-cross ran
