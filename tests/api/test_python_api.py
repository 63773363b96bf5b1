"""`import plughost`: the curated package root, `plughost.run` on paths, Arrow tables and pandas frames, in
memory and on disk, `plughost.run_batch`, and input errors from the one error tree. Real plugin processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import plughost
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "BTCUSD-1m.parquet"

PUBLIC = [
    "BatchFileError", "BatchLocked", "BatchResult", "ConfigError", "DataError", "FrameTooLarge", "HandshakeError",
    "InterfaceMismatch", "ManifestError", "PluginCrashed", "PluginDisabled", "PluginError", "PluginFailure",
    "PluginNotFound", "PluginProtocolError", "PluginSpawnFailed", "PluginStartTimeout", "PluginTimeout",
    "PlughostError", "ResourceLimitExceeded", "Result", "RunError", "UsageError", "__version__", "run", "run_batch",
]


def candles(n: int = 400) -> pa.Table:
    close = 100 + np.cumsum(np.sin(np.arange(n) / 6.0))
    return pa.table({"timestamp": np.arange(n, dtype=np.int64) * 60_000 + 1_700_000_000_000, "open": close,
                     "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)})


class _MixedFrame:
    """An Arrow-speaking object whose stream fails, as a frame with a column of mixed types does."""

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return pa.array([1, "two"])  # raises ArrowInvalid/TypeError: mixed types


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder outside the repository, with the plugin search path left to its defaults."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PLUGHOST_PLUGIN_PATH", raising=False)
    return tmp_path


def test_package_root_exports_exactly_the_public_names() -> None:
    assert sorted(plughost.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(plughost, name) is not None
    for name in PUBLIC:
        if name[0].isupper() and name not in ("Result", "BatchResult", "RunError"):
            assert issubclass(getattr(plughost, name), plughost.PlughostError), name
    with pytest.raises(AttributeError):
        _ = plughost.no_such_name


def test_import_is_lazy_and_python_m_plughost_is_the_cli() -> None:
    code = ("import sys, plughost; heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('pyarrow', 'numpy', 'pydantic', 'click', 'rich', 'pandas') "
            "or (m.startswith('plughost.') and m != 'plughost._version')]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    out = subprocess.run([sys.executable, "-m", "plughost", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"plughost, version {plughost.__version__}"
    out = subprocess.run([sys.executable, "-m", "plughost", "run"], capture_output=True, text=True)
    assert out.returncode == 2 and "--strategy" in out.stderr and "Traceback" not in out.stderr


def test_run_on_an_arrow_table_in_memory(workdir: Path) -> None:
    res = plughost.run("sma-cross", candles(), fast=5, slow=20, fee_bps=2)
    assert isinstance(res, plughost.Result)
    assert res.status == "ok" and res.ok and res.error is None and res.run_dir is None
    assert res.config["fast"] == 5 and res.config["slow"] == 20  # keywords that are not run keys: parameters
    assert res.summary["run_config"]["fee_bps"] == 2
    assert res.metrics["num_trades"] == res.trades.num_rows > 0
    assert {"entry_time", "exit_time", "entry_price", "exit_price", "pnl"} <= set(res.trades.column_names)
    assert res.equity.num_rows == 400
    assert res.trades.column("symbol").to_pylist()[0] == "candles"  # no symbol column: named after the input
    assert list(workdir.iterdir()) == []  # out=None: nothing written here
    assert "ok" in repr(res) and res.run_id in repr(res)
    html = res._repr_html_()  # what Jupyter shows
    assert "<table>" in html and "sharpe" in html and res.run_id in html


def test_pandas_frame_path_and_table_give_the_same_trades(workdir: Path) -> None:
    pd = pytest.importorskip("pandas")
    table = candles()
    pq.write_table(table, workdir / "candles.parquet")
    from_path = plughost.run("sma-cross", "candles.parquet", config={"fast": 5, "slow": 20})
    from_table = plughost.run("sma-cross", table, config={"fast": 5, "slow": 20})
    frame = table.to_pandas()
    frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True)
    frame.index.name = "Date"  # a time index (as yfinance gives) becomes the timestamp column
    from_frame = plughost.run("sma-cross", frame, config={"fast": 5, "slow": 20})
    cols = ["entry_price", "exit_price", "pnl"]
    assert from_path.trades.select(cols) == from_table.trades.select(cols) == from_frame.trades.select(cols)
    trades = from_frame.trades.to_pandas()
    assert len(trades) == from_frame.metrics["num_trades"] and "pnl" in trades.columns


def test_run_to_disk_and_load_it_back(workdir: Path) -> None:
    res = plughost.run("rsi-strategy", SAMPLE, out="results", run_id="rsi-run")
    assert res.status == "ok" and res.run_dir == workdir / "results" / "runs" / "rsi-run"
    assert json.loads((res.run_dir / "summary.json").read_text())["run_id"] == "rsi-run"
    assert (workdir / "results" / "report.html").is_file()  # the HTML reports, as `plughost run --out` writes
    again = plughost.Result.load(res.run_dir)
    assert again.summary == res.summary and again.trades == res.trades and again.equity == res.equity


def test_strategy_from_a_plugin_folder_and_a_failed_run(workdir: Path) -> None:
    folder = workdir / "my-strategy"
    folder.mkdir()
    (folder / "plugin.json").write_text(json.dumps(
        {"name": "my-strategy", "version": "0.1.0", "type": "strategy", "language": "python", "entry": "main.py"}))
    (folder / "main.py").write_text(textwrap.dedent("""
        from plughost_sdk import Signal, StrategyPlugin

        class Mine(StrategyPlugin):
            def initialize(self, config):
                self.fail_at = config.get("fail_at")

            def on_candle(self, candle, ctx):
                if len(ctx.history) == self.fail_at:
                    raise RuntimeError("boom at candle %d" % self.fail_at)
                if len(ctx.history) % 20 == 0:
                    return Signal.exit() if ctx.position else Signal.entry(reason="every-20")
                return None
    """))
    res = plughost.run(folder, candles())
    assert res.status == "ok" and res.summary["strategy"] == "my-strategy" and res.trades.num_rows > 0
    failed = plughost.run("./my-strategy", candles(), fail_at=50)
    assert failed.status == "failed" and not failed.ok
    assert isinstance(failed.error, plughost.RunError)
    assert failed.error.code == "PLUGIN_ERROR" and failed.error.plugin == "my-strategy"
    assert "boom at candle 50" in failed.error.message


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"strategy": "sma-crosss"}, plughost.PluginNotFound, "did you mean 'sma-cross'"),
    ({"strategy": "custom-metrics"}, plughost.ManifestError, "is a feature, not a strategy"),
    ({"candles": 42}, plughost.UsageError, "must be a path, a pyarrow.Table or a pandas DataFrame"),
    ({"candles": "missing.parquet"}, plughost.DataError, "missing.parquet"),
    ({"fee_bps": -1}, plughost.ConfigError, "fee_bps"),
    ({"fast": "five"}, plughost.ConfigError, "/fast"),
    ({"features": ["no-such-feature"]}, plughost.PluginNotFound, "no-such-feature"),
    ({"plugins_dir": "nowhere"}, plughost.UsageError, "nowhere"),
    ({"strategy": "./nowhere"}, plughost.UsageError, "not a plugin folder"),
    ({"run_id": "../escape"}, plughost.UsageError, "not a valid run id"),
    ({"out": 5}, plughost.UsageError, "out must be a folder path"),
    ({"plugins_dir": 5}, plughost.UsageError, "plugins_dir"),
    ({"features": "nope", "config": 5}, plughost.UsageError, "config must be a dict"),
    ({"features": [{"nam": "x"}]}, plughost.ConfigError, "features"),
    ({"alerts": 3.5}, plughost.UsageError, "alerts must be a path"),
    ({"strategy": None}, plughost.UsageError, "strategy must be a plugin name"),
    ({"candles": pa.table({"timestamp": [1, 2], "close": [1.0, 2.0]})}, plughost.DataError, "the candles table"),
    ({"candles": _MixedFrame()}, plughost.DataError, "the candles table: cannot be stored as Arrow"),
])
def test_bad_input_raises_from_the_error_tree(workdir: Path, kwargs: dict[str, object], error: type[Exception],
                                              words: str) -> None:
    args: dict[str, object] = {"strategy": "sma-cross", "candles": candles(50), **kwargs}
    with pytest.raises(error) as caught:
        plughost.run(**args)  # type: ignore[arg-type]
    assert isinstance(caught.value, plughost.PlughostError)
    assert words in str(caught.value) and "plughost-" not in str(caught.value.to_dict())  # no temp paths
    assert list(p.name for p in workdir.iterdir()) == []


def test_run_batch_from_runs_and_from_a_file(workdir: Path) -> None:
    runs = [{"strategy": "sma-cross", "candles": str(SAMPLE), "config": {"fast": f, "slow": 30}, "id": f"fast-{f}"}
            for f in (5, 10)]
    batch = plughost.run_batch(runs, out="sweep", workers=1)
    assert isinstance(batch, plughost.BatchResult)
    assert batch.status == "ok" and sorted(batch.ok) == ["fast-10", "fast-5"] and batch.failed == [] and len(batch) == 2
    table = batch.runs
    assert table.column_names[:3] == ["run_id", "status", "error_code"] and "sharpe" in table.column_names
    best = batch["fast-5"]
    assert best.run_dir == workdir / "sweep" / "runs" / "fast-5" and best.config["fast"] == 5
    assert [r.run_id for r in batch] == batch.ids
    assert batch.report is not None and batch.report.is_file()

    (workdir / "sweep.toml").write_text(textwrap.dedent(f"""
        [[sweeps]]
        strategy = "sma-cross"
        candles = "{SAMPLE}"
        grid = {{ fast = [5, 8] }}
    """))
    swept = plughost.run_batch(workdir / "sweep.toml", out=workdir / "sweep2", resume=True, progress=False)
    assert swept.status == "ok" and len(swept) == 2
    with pytest.raises(plughost.BatchFileError, match="candles"):
        plughost.run_batch([{"strategy": "sma-cross"}], out="bad")
    with pytest.raises(plughost.PluginNotFound):
        plughost.run_batch([{"strategy": "nope", "candles": str(SAMPLE)}], out="bad")


def test_alerts_from_a_table_reach_the_strategy(workdir: Path) -> None:
    folder = workdir / "alert-follower"
    folder.mkdir()
    (folder / "plugin.json").write_text(json.dumps(
        {"name": "alert-follower", "version": "0.1.0", "type": "strategy", "language": "python", "entry": "main.py"}))
    (folder / "main.py").write_text(textwrap.dedent("""
        from plughost_sdk import Signal, StrategyPlugin

        class Follow(StrategyPlugin):
            def on_alert(self, alert, ctx):
                return Signal.entry(reason=alert.data["why"]) if ctx.position is None else None

            def on_candle(self, candle, ctx):
                if ctx.position is not None and candle.timestamp - ctx.position.entry_timestamp >= 600_000:
                    return Signal.exit(reason="ten minutes")
                return None
    """))
    t0 = 1_700_000_000_000
    alerts = pa.table({"id": ["a1", "a2"], "timestamp": [t0 + 60_000 * 50, t0 + 60_000 * 200],
                       "symbol": ["candles", "candles"], "why": ["first", "second"]})
    res = plughost.run(folder, candles(), alerts=alerts)
    assert res.status == "ok", res.error
    assert res.trades.column("entry_reason").to_pylist() == ["first", "second"]


def test_a_batch_with_a_failing_run(workdir: Path) -> None:
    folder = workdir / "mine" / "raiser"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps(
        {"name": "raiser", "version": "0.1.0", "type": "strategy", "language": "python", "entry": "main.py"}))
    (folder / "main.py").write_text(
        "from plughost_sdk import StrategyPlugin\n\nclass R(StrategyPlugin):\n"
        "    def on_candle(self, candle, ctx):\n        raise KeyError('no such column')\n")
    batch = plughost.run_batch([{"id": "good", "strategy": "sma-cross", "candles": str(SAMPLE)},
                                {"id": "bad", "strategy": "raiser", "candles": str(SAMPLE)}],
                               out="mixed", plugins_dir=workdir / "mine", workers=1, progress=False)
    assert batch.status == "failed" and batch.ok == ["good"] and batch.failed == ["bad"]
    runs = batch.runs.to_pylist()
    assert {r["run_id"]: r["error_code"] for r in runs} == {"good": None, "bad": "PLUGIN_ERROR"}
    bad = batch["bad"]
    assert bad.status == "failed" and bad.error is not None and bad.error.plugin == "raiser"
    assert "no such column" in bad.error.message
    with pytest.raises(plughost.UsageError, match="no run 'other'"):
        batch.result("other")
    plughost.run("sma-cross", candles(), out="mixed", run_id="single")  # a single run in the same folder
    again = plughost.BatchResult.load("mixed")
    assert sorted(again.ids) == ["bad", "good", "single"] and again.failed == ["bad"]
    assert again["single"].status == "ok" and again["bad"].error == bad.error
