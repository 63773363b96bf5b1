"""The wheels, installed as a user would into a fresh venv outside the repository, work from any folder:
`python -m plughost`, the bundled Python and TypeScript examples, the Python API on an Arrow table, and
plugins of the user's own (Python, and plain Node requiring `@plughost/sdk` at run time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js"),
    pytest.mark.skipif(not (REPO / "sdk-typescript" / "dist" / "runner.js").is_file(),
                       reason="TypeScript SDK not built (make setup)"),
]


def _sh(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def _user_env(home: Path) -> dict[str, str]:
    """A user's environment: nothing of the checkout on the path, a home of its own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PLUGHOST_", "NODE_", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)
    env["PLUGHOST_HOME"] = str(home / ".plughost")
    return env


def _write_candles(path: Path, n: int = 600) -> None:
    code = textwrap.dedent(f"""
        import numpy as np, pyarrow as pa, pyarrow.parquet as pq
        n = {n}
        close = 100 + np.cumsum(np.sin(np.arange(n) / 7.0))
        pq.write_table(pa.table({{"timestamp": np.arange(n, dtype=np.int64) * 60_000 + 1_700_000_000_000,
                                  "open": close, "high": close + 1, "low": close - 1, "close": close,
                                  "volume": np.ones(n)}}), {str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


MY_PY_STRATEGY = '''
from plughost_sdk import Signal, StrategyPlugin

class EveryTen(StrategyPlugin):
    def on_candle(self, candle, ctx):
        n = len(ctx.history)
        if n % 10 == 0:
            return Signal.exit(reason="tick-exit") if ctx.position else Signal.entry(reason="tick-entry")
        return None
'''

MY_JS_STRATEGY = '''
const sdk = require('@plughost/sdk');   // at run time, from the plughost installation (NODE_PATH)
let seen = 0;
module.exports = {
  name: 'my-js', version: '1.0.0',
  onCandle(candle, ctx) {
    seen += 1;
    if (seen % 10 === 0) return ctx.position ? sdk.exit({ reason: 'js-exit' }) : sdk.entry({ reason: sdk.SDK_NAME });
    return sdk.hold();
  },
};
'''


def _plugin(folder: Path, name: str, language: str, entry: str, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps(
        {"name": name, "version": "1.0.0", "type": "strategy", "language": language, "entry": entry}))
    (folder / entry).write_text(source)
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the plughost and plughost-sdk wheels (built from this checkout) installed; its python."""
    base = tmp_path_factory.mktemp("install")
    wheels = base / "wheels"
    leftovers = [p for p in (REPO / "build", REPO / "sdk-python" / "build") if not p.exists()]
    try:
        # wheels for another machine: the SDK required by version, as `make wheel` builds them (setup.py)
        env = {**os.environ, "PLUGHOST_SDK_REQUIREMENT": "plughost-sdk==0.1.0"}
        _sh([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, REPO, REPO / "sdk-python"],
            cwd=base, env=env)
    finally:
        for p in leftovers:  # setuptools builds in place; leave the checkout as it was
            shutil.rmtree(p, ignore_errors=True)
    built = sorted(w.name for w in wheels.glob("*.whl"))
    assert [w.split("-")[0] for w in built] == ["plughost", "plughost_sdk"], built
    venv = base / "venv"
    _sh([sys.executable, "-m", "venv", venv], cwd=base)
    python = venv / "bin" / "python"
    _sh([python, "-m", "pip", "install", "--quiet", *sorted(wheels.glob("*.whl"))], cwd=base)
    return python


def test_cli_runs_the_bundled_examples_from_any_folder(installed: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path)
    work = tmp_path / "somewhere"
    work.mkdir()
    _write_candles(work / "ETHUSD.parquet")
    out = _sh([installed, "-m", "plughost", "--help"], cwd=work, env=env)
    assert "Usage: plughost" in out.stdout and "run" in out.stdout
    listed = _sh([installed, "-m", "plughost", "list-plugins", "--json"], cwd=work, env=env)
    names = {p["name"] for p in json.loads(listed.stdout)["plugins"] if p["valid"]}
    assert {"sma-cross", "simple-ma", "rsi-strategy", "custom-metrics", "visualization"} <= names
    trades = {}
    for strategy in ("sma-cross", "simple-ma"):  # Python and TypeScript twins: the same trades
        run = _sh([installed, "-m", "plughost", "run", "--strategy", strategy, "--candles", "ETHUSD.parquet",
                   "--out", "out", "--run-id", strategy, "--json"], cwd=work, env=env)
        summary = json.loads(run.stdout)
        assert summary["status"] == "ok" and summary["metrics"]["num_trades"] > 0, run.stderr
        trades[strategy] = summary["metrics"]["num_trades"]
        assert (work / "out" / "runs" / strategy / "trades.parquet").is_file()
    assert trades["sma-cross"] == trades["simple-ma"]
    # the TypeScript feature (bundled, built) runs too
    run = _sh([installed, "-m", "plughost", "run", "--strategy", "sma-cross", "--feature", "visualization",
               "--candles", "ETHUSD.parquet", "--out", "out", "--run-id", "viz", "--json"], cwd=work, env=env)
    assert json.loads(run.stdout)["status"] == "ok"
    assert list((work / "out" / "runs" / "viz" / "artifacts" / "visualization").iterdir())


def test_own_plugins_from_a_folder_of_their_own(installed: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    _write_candles(work / "BTC.parquet")
    mine = tmp_path / "my-plugins"
    _plugin(mine / "every-ten", "every-ten", "python", "main.py", MY_PY_STRATEGY)
    _plugin(mine / "my-js", "my-js", "javascript", "index.js", MY_JS_STRATEGY)
    for name, reason in (("every-ten", "tick-entry"), ("my-js", "plughost-sdk-typescript")):
        run = _sh([installed, "-m", "plughost", "run", "--strategy", name, "--candles", "BTC.parquet",
                   "--plugins-dir", mine, "--out", "out", "--run-id", name, "--json"], cwd=work, env=env, check=False)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["metrics"]["num_trades"] > 10
        check = _sh([installed, "-c", "import pyarrow.parquet as pq, sys; "
                     "print(set(pq.read_table(sys.argv[1]).column('entry_reason').to_pylist()))",
                     work / "out" / "runs" / name / "trades.parquet"], cwd=work, env=env)
        assert reason in check.stdout


def test_python_api_on_an_arrow_table(installed: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path)
    work = tmp_path / "notebook"
    work.mkdir()
    code = textwrap.dedent("""
        import importlib.util, json, sys
        import numpy as np, pyarrow as pa
        import plughost
        n = 600
        close = 100 + np.cumsum(np.sin(np.arange(n) / 7.0))
        table = pa.table({"timestamp": np.arange(n, dtype=np.int64) * 60_000 + 1_700_000_000_000,
                          "open": close, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)})
        py = plughost.run("sma-cross", table, fast=5, slow=20)
        ts = plughost.run("simple-ma", table, config={"fast": 5, "slow": 20})
        try:
            plughost.run("sma-crosss", table)
            raise SystemExit("no error for a wrong name")
        except plughost.PluginNotFound as exc:
            suggestion = "sma-cross" in str(exc)
        print(json.dumps({"status": [py.status, ts.status], "run_dir": py.run_dir,
                          "trades": [py.trades.num_rows, ts.trades.num_rows], "equity": py.equity.num_rows,
                          "suggestion": suggestion, "file": plughost.__file__,
                          "pandas": importlib.util.find_spec("pandas") is not None}))
    """)
    proc = _sh([installed, "-c", code], cwd=work, env=env)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["status"] == ["ok", "ok"] and data["run_dir"] is None
    assert data["trades"][0] == data["trades"][1] > 0 and data["equity"] == 600
    assert data["suggestion"]
    assert data["pandas"] is False, "pandas is optional: installing plughost must not pull it in"
    assert not data["file"].startswith(str(REPO)), "the installed package ran, not the checkout"
    assert list(work.iterdir()) == [], "out=None writes nothing in the working folder"


def test_pip_install_of_the_checkout_alone_works_from_any_folder(tmp_path: Path) -> None:
    """`pip install <checkout>`, the first thing a user tries, finds the Python SDK beside it (setup.py)."""
    venv = tmp_path / "venv"
    _sh([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PLUGHOST_SDK_REQUIREMENT"}
    leftovers = [p for p in (REPO / "build", REPO / "sdk-python" / "build") if not p.exists()]
    try:
        _sh([python, "-m", "pip", "install", "--quiet", REPO], cwd=tmp_path, env=env)
    finally:
        for p in leftovers:
            shutil.rmtree(p, ignore_errors=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    _write_candles(work / "SOL.parquet")
    user = _user_env(tmp_path)
    run = _sh([python, "-m", "plughost", "run", "--strategy", "simple-ma", "--candles", "SOL.parquet", "--out", "out",
               "--run-id", "r", "--json"], cwd=work, env=user)
    assert json.loads(run.stdout)["status"] == "ok", run.stderr
    code = ("import plughost, pyarrow.parquet as pq; "
            "print(plughost.run('sma-cross', pq.read_table('SOL.parquet')).status)")
    api = _sh([python, "-c", code], cwd=work, env=user)
    assert api.stdout.strip() == "ok", api.stderr
