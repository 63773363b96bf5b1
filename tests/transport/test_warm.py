"""Warm starts: a plugin forked from the fork server gets its own environment, folder and process group."""

from __future__ import annotations

import os

import pytest
from plughost.client.proxies import Timeouts, start_plugin
from plughost.transport.warm import WarmSpawner

from tests.client.test_session_processes import batch
from tests.conftest import python_spec


@pytest.fixture
def warm():
    spawner = WarmSpawner()
    yield spawner
    spawner.close()


def test_warm_runner_becomes_the_plugin_with_its_env(warm):
    spec = python_spec("env_strategy.py", extra_env={"PLUGHOST_TEST_GRANT": "granted"})
    with start_plugin(spec, timeouts=Timeouts(call=10), spawner=warm) as proxy:
        assert warm.server.served == 1
        assert proxy.hello.name is None and "on_candle" in proxy.hello.methods
        assert proxy.hello.pid != warm.server.proc.pid and os.getpgid(proxy.hello.pid) == proxy.hello.pid
        proxy.initialize({}, "r")
        reasons = [s.reason for s in proxy.run_batch(batch(9)).signals]
        assert reasons[0] == f"granted|env_strategy|{spec.plugin_dir}"


def test_plugin_error_in_warm_process_is_reported_like_cold(warm):
    with start_plugin(python_spec("misbehave.py"), spawner=warm) as proxy:
        proxy.initialize({}, "r")
        with pytest.raises(Exception) as info:
            proxy.run_batch(batch(1))
        assert "boom" in str(info.value)


@pytest.mark.parametrize(("volume", "exit_code", "signal_name"), [(2, 3, None), (3, None, "SIGSEGV")])
def test_forked_plugin_crash_reports_exit_code_and_signal(warm, volume, exit_code, signal_name):
    from plughost.errors import PluginCrashed

    with start_plugin(python_spec("misbehave.py"), spawner=warm) as proxy:
        assert warm.server.served >= 1
        proxy.initialize({}, "r")
        with pytest.raises(PluginCrashed) as info:
            proxy.run_batch(batch(volume))
        assert (info.value.exit_code, info.value.signal_name) == (exit_code, signal_name)


def test_forked_plugin_timeout_kills_its_tree(warm):
    from plughost.errors import PluginTimeout

    from tests.conftest import pid_gone

    with start_plugin(python_spec("misbehave.py"), timeouts=Timeouts(call=1.0, term_grace=0.5),
                      spawner=warm) as proxy:
        proxy.initialize({}, "r")
        with pytest.raises(PluginTimeout):
            proxy.run_batch(batch(4))
        assert pid_gone(proxy.hello.pid)
