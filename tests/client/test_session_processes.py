"""The foundation's must-shows: real plugin processes misbehaving, the host staying whole."""

from __future__ import annotations

import time

import numpy as np
import psutil
import pytest
from plughost.errors import (
    PluginCrashed,
    PluginError,
    PluginLoadFailed,
    PluginProtocolError,
    PluginStartTimeout,
    PluginTimeout,
)
from plughost.protocol.messages import CandleBatch

from tests.conftest import pid_gone, python_spec


def batch(volume: float, n: int = 3, offset: int = 0, last: bool = False) -> CandleBatch:
    ts = np.arange(offset, offset + n, dtype=np.int64) * 60_000
    close = np.linspace(100.0, 101.0, n)
    return CandleBatch(["TEST"], offset, ts, close - 0.5, close + 1, close - 1, close, np.full(n, volume),
                       np.zeros(n, np.int32), ends=[n - 1] if last else [], last=last)


def test_handshake_and_calls(start):
    proxy = start(python_spec("echo_strategy.py"))
    assert proxy.hello.name == "echo" and proxy.hello.version == "1.0.0"
    assert proxy.hello.plugin_type == "strategy"
    assert {"initialize", "on_candle"} <= proxy.hello.methods
    assert psutil.Process(proxy.hello.pid).is_running()
    proxy.initialize({"k": 1}, "run-1")
    result = proxy.run_batch(batch(9))  # closes rise past opens: entry at 0, then ignored entries
    assert [s.type for s in result.signals] == ["entry"] * 3
    # the entry decided on candle 0 filled at candle 1's open (100.0); the SDK's book mirror says so
    assert result.book is not None and result.book.positions["TEST"].entry_price == 100.0


def test_plugin_exception_carries_traceback_and_next_process_works(start):
    proxy = start(python_spec("misbehave.py"))
    proxy.initialize({}, "r")
    with pytest.raises(PluginError) as info:
        proxy.run_batch(batch(1))
    err = info.value
    assert err.error_type == "ValueError" and "boom" in err.message and "\u4e2d" in err.message
    assert "misbehave.py" in err.traceback and err.hook == "on_candle" and err.at == 0
    assert err.plugin == "misbehave"
    # the same process still answers, and so does a fresh one
    assert proxy.run_batch(batch(9)).signals
    fresh = start(python_spec("misbehave.py"))
    fresh.initialize({}, "r2")
    assert fresh.run_batch(batch(9)).signals


def test_exit_mid_call_is_reported_fast_with_exit_code(start):
    proxy = start(python_spec("misbehave.py"))
    proxy.initialize({}, "r")
    began = time.monotonic()
    with pytest.raises(PluginCrashed) as info:
        proxy.run_batch(batch(2))
    assert time.monotonic() - began < 2.0
    assert info.value.exit_code == 3 and info.value.signal_name is None
    assert "exit code 3" in str(info.value) or "code 3" in str(info.value)
    with pytest.raises(PluginCrashed):  # and the proxy stays dead
        proxy.run_batch(batch(9))


def test_segfault_reports_signal_name_and_fault_trace(start):
    proxy = start(python_spec("misbehave.py"))
    proxy.initialize({}, "r")
    with pytest.raises(PluginCrashed) as info:
        proxy.run_batch(batch(3))
    assert info.value.signal_name == "SIGSEGV"
    assert "Fatal Python error" in info.value.stderr_tail or "Segmentation fault" in info.value.stderr_tail
    assert "SIGSEGV" in str(info.value)


def test_hang_times_out_and_process_tree_is_gone(start):
    proxy = start(python_spec("misbehave.py"), call=1.0)
    proxy.initialize({}, "r")
    pid = proxy.hello.pid
    began = time.monotonic()
    with pytest.raises(PluginTimeout) as info:
        proxy.run_batch(batch(4))
    assert 1.0 <= time.monotonic() - began < 3.0
    assert info.value.hook == "candles" and info.value.timeout == 1.0
    assert pid_gone(pid)


def test_sigterm_ignored_is_killed_after_grace(start):
    proxy = start(python_spec("misbehave.py"), call=0.5, term_grace=0.5)
    proxy.initialize({}, "r")
    pid = proxy.hello.pid
    with pytest.raises(PluginTimeout):
        proxy.run_batch(batch(7))
    assert pid_gone(pid)


def test_stdout_writes_never_corrupt_the_stream(start):
    proxy = start(python_spec("misbehave.py"))
    proxy.initialize({}, "r")
    for _ in range(20):
        result = proxy.run_batch(batch(5))
        assert [s.reason for s in result.signals] == ["v5"] * 3
    proxy.session.process.stderr.join(0.1)
    tail = proxy.session.process.stderr.text()
    assert "hello from print" in tail and "raw bytes on fd 1" in tail and "child on stdout" in tail


def test_never_handshakes_hits_start_timeout(start):
    began = time.monotonic()
    with pytest.raises(PluginStartTimeout) as info:
        start(python_spec("never_hello.py"), start=1.0)
    assert time.monotonic() - began < 2.5
    assert "never_hello" in str(info.value)


def test_import_error_is_reported_at_the_plugins_line(start):
    with pytest.raises(PluginLoadFailed) as info:
        start(python_spec("import_error.py"))
    err = info.value
    assert err.code == "PLUGIN_LOAD_FAILED" and err.plugin == "import_error"
    assert err.line == 1 and err.file is not None and err.file.endswith("import_error.py")
    assert str(err).splitlines()[0].endswith("import_error.py:1: RuntimeError: this plugin fails while being imported")
    assert str(err).splitlines()[1].strip().startswith('raise RuntimeError("this plugin fails')
    assert "fails while being imported" in err.stderr_tail  # said on stderr too, for older hosts


def test_module_without_plugin_class_says_what_to_define(start):
    with pytest.raises(PluginLoadFailed) as info:
        start(python_spec("no_plugin.py"))
    assert info.value.kind == "no_plugin" and info.value.file is not None and info.value.file.endswith("no_plugin.py")
    assert "subclass of StrategyPlugin or FeaturePlugin" in info.value.message


def test_exit_with_grandchild_holding_stdout_is_noticed_from_the_exit(start):
    proxy = start(python_spec("misbehave.py"))
    proxy.initialize({}, "r")
    began = time.monotonic()
    with pytest.raises(PluginCrashed) as info:
        proxy.run_batch(batch(6))
    assert time.monotonic() - began < 2.0
    assert info.value.exit_code == 0
    # the autouse fixture asserts the `sleep 1000` grandchild is gone too


def test_half_frame_then_stall_is_a_protocol_error(start):
    proxy = start(python_spec("misbehave.py"), partial_frame=0.5, call=5.0)
    proxy.initialize({}, "r")
    began = time.monotonic()
    with pytest.raises(PluginProtocolError) as info:
        proxy.run_batch(batch(8))
    assert "partial frame stalled" in str(info.value)
    assert time.monotonic() - began < 3.0


def test_graceful_close_is_idempotent(start):
    proxy = start(python_spec("echo_strategy.py"))
    pid = proxy.hello.pid
    proxy.close()
    proxy.close()
    assert pid_gone(pid)
