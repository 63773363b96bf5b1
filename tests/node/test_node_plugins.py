"""The host running real Node plugins through the TypeScript SDK runner: crashes, errors, hangs, noise,
no handshake, exit right after answering, feature hooks, and the TypeScript/Python twins' trades."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plughost.errors import PluginCrashed, PluginError, PluginStartTimeout, PluginTimeout
from plughost.protocol.messages import CandleBatch
from plughost.transport.process import LaunchSpec, node_runner

from tests.conftest import REPO, pid_gone

NODE_FIXTURES = REPO / "tests" / "fixtures" / "plugins" / "node"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)"),
]


def js_spec(file: str, plugin_type: str = "strategy") -> LaunchSpec:
    path = NODE_FIXTURES / file
    return LaunchSpec(path.stem, plugin_type, "javascript", path, path.parent)


def batch(volume: float, n: int = 3, offset: int = 0, last: bool = False) -> CandleBatch:
    ts = np.arange(offset, offset + n, dtype=np.int64) * 60_000 + 1_700_000_000_000
    close = np.linspace(100.0, 101.0, n)
    return CandleBatch(["TEST"], offset, ts, close - 0.5, close + 1, close - 1, close, np.full(n, volume),
                       np.zeros(n, np.int32), ends=[n - 1] if last else [], last=last)


def test_handshake_calls_and_mirror(start):
    proxy = start(js_spec("misbehave.js"))
    assert proxy.hello.plugin_type == "strategy" and "on_candle" in proxy.hello.methods
    proxy.initialize({}, "r", size=2.0)
    result = proxy.run_batch(batch(9))
    assert [s.type for s in result.signals] == ["entry"] * 3
    # decided on candle 0, filled at candle 1's open: the SDK's book mirror says so
    assert result.book is not None
    position = result.book.positions["TEST"]
    assert position.size == 2.0 and position.side == "long"
    assert position.entry_timestamp == 1_700_000_000_000 + 60_000


def test_throw_is_a_plugin_error_and_the_process_lives_on(start):
    proxy = start(js_spec("misbehave.js"))
    proxy.initialize({}, "r")
    with pytest.raises(PluginError) as info:
        proxy.run_batch(batch(1))
    err = info.value
    assert err.error_type == "RangeError" and "boom" in err.message and "\u4e2d" in err.message
    assert "misbehave.js" in err.traceback and err.hook == "on_candle" and err.at == 0
    assert proxy.run_batch(batch(9, offset=3)).signals


def test_rejected_promise_is_a_plugin_error(start):
    proxy = start(js_spec("misbehave.js"))
    proxy.initialize({}, "r")
    with pytest.raises(PluginError) as info:
        proxy.run_batch(batch(11))  # a rejected Promise
    assert info.value.error_type == "TypeError" and "rejected on purpose" in info.value.message
    assert info.value.hook == "on_candle" and info.value.at == 0
    assert proxy.run_batch(batch(7, offset=3)).signals


def test_process_exit_mid_call_is_a_crash_with_exit_code(start):
    proxy = start(js_spec("misbehave.js"))
    proxy.initialize({}, "r")
    began = time.monotonic()
    with pytest.raises(PluginCrashed) as info:
        proxy.run_batch(batch(2))
    assert time.monotonic() - began < 2.0
    assert info.value.exit_code == 3


def test_hang_times_out_and_the_process_is_gone(start):
    proxy = start(js_spec("misbehave.js"), call=1.0)
    proxy.initialize({}, "r")
    pid = proxy.hello.pid
    began = time.monotonic()
    with pytest.raises(PluginTimeout):
        proxy.run_batch(batch(4))
    assert 1.0 <= time.monotonic() - began < 4.0
    assert pid_gone(pid)


def test_console_flood_fd1_and_children_never_corrupt_the_stream(start):
    proxy = start(js_spec("misbehave.js"))
    proxy.initialize({}, "r")
    for k in range(5):  # 5 x 35 KB of console.log: more than a pipe holds, so the runner meets back-pressure
        result = proxy.run_batch(batch(5, offset=3 * k))
        assert [s.reason for s in result.signals][:1] == ["v5"]
    result = proxy.run_batch(batch(6, offset=15))
    assert [s.reason for s in result.signals][:1] == ["v6"]
    proxy.session.process.stderr.join(0.5)
    tail = proxy.session.process.stderr.text()
    assert "flood line 299" in tail and "hello from process.stdout.write" in tail
    assert "raw bytes on fd 1" in tail and "child on stdout" in tail


def test_handshake_never_sent_hits_the_start_timeout(start):
    began = time.monotonic()
    with pytest.raises(PluginStartTimeout):
        start(js_spec("never-hello.mjs"), start=1.0)
    assert time.monotonic() - began < 3.0


def test_exit_right_after_the_response_loses_nothing(start):
    for _ in range(5):
        proxy = start(js_spec("misbehave.js"))
        proxy.initialize({}, "r")
        result = proxy.run_batch(batch(10))
        assert [s.reason for s in result.signals] == ["v10"] * 3
        with pytest.raises(PluginCrashed):
            proxy.run_batch(batch(9, offset=3))


def test_feature_hook_errors_are_reported_and_post_run_answers(start):
    proxy = start(js_spec("features-misbehave.js", "feature"))
    assert {"on_trade", "on_candle", "on_post_run"} <= proxy.hello.methods
    proxy.initialize({}, "r")
    trade = {
        "symbol": "X",
        "entry_time": 1,
        "entry_price": 10.0,
        "exit_time": 2,
        "exit_price": 9.0,
        "size": 1.0,
        "pnl": -1.0,
        "entry_reason": None,
        "exit_reason": None,
    }
    proxy.send_trades([trade, {**trade, "pnl": 2.0}])
    proxy.send_candles(batch(1))
    result = proxy.post_run(
        {
            "run_id": "r",
            "status": "ok",
            "metrics": {},
            "trades": {},
            "equity": {"timestamp": [], "equity": []},
            "config": {},
        }
    )
    assert result == {"metrics": {"seen": 1}, "artifacts": {"note.txt": "ok"}}
    errors = proxy.take_hook_errors()
    assert sorted(e.hook for e in errors) == ["on_candle", "on_trade"]
    assert any("losing trade -1" in e.error.message for e in errors)


def _bars(path: Path, n: int = 3000) -> None:
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    pq.write_table(
        pa.table(
            {
                "timestamp": np.arange(n, dtype=np.int64) * 60_000 + 1_700_000_000_000,
                "open": open_,
                "high": np.maximum(open_, close) * 1.001,
                "low": np.minimum(open_, close) * 0.999,
                "close": close,
                "volume": np.ones(n),
            }
        ),
        path,
    )


def _trades(tmp: Path, strategy: str, candles: Path, batch_size: int) -> pa.Table:
    cfg = tmp / f"{strategy}-{batch_size}.json"
    cfg.write_text(json.dumps({"fast": 7, "slow": 25, "batch_size": batch_size}))
    out = tmp / f"out-{strategy}-{batch_size}"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "plughost"),
            "run",
            "--strategy",
            strategy,
            "--candles",
            str(candles),
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--plugins-dir",
            str(REPO / "plugins"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = out.glob("runs/*/trades.parquet")
    return pq.read_table(path)


@pytest.mark.skipif(not (REPO / "plugins/strategies/simple-ma/dist/index.js").is_file(), reason="simple-ma not built")
def test_typescript_and_python_twins_make_identical_trades(tmp_path):
    candles = tmp_path / "bars.parquet"
    _bars(candles)
    ts = _trades(tmp_path, "simple-ma", candles, 500)
    py = _trades(tmp_path, "sma-cross", candles, 8192)
    assert ts.num_rows > 10
    assert ts.to_pylist() == py.to_pylist()
