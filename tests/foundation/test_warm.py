"""Warm starts: a pre-started runner becomes the requested plugin, with its environment and folder."""

from __future__ import annotations

import pytest

from plughost.proxy import Timeouts, start_plugin
from plughost.transport.warm import disable_warm_starts, enable_warm_starts
from tests.conftest import python_spec
from tests.foundation.test_session import batch


@pytest.fixture
def warm_pool():
    pool = enable_warm_starts(size=1)
    yield pool
    disable_warm_starts()


def test_warm_runner_becomes_the_plugin_with_its_env(warm_pool):
    spec = python_spec("env_strategy.py", extra_env={"PLUGHOST_TEST_GRANT": "granted"})
    with start_plugin(spec, timeouts=Timeouts(call=10)) as proxy:
        assert warm_pool.served == 1
        assert proxy.hello.name is None and "on_candle" in proxy.hello.methods
        proxy.initialize({}, "r")
        reasons = [s.reason for s in proxy.run_batch(batch(9)).signals]
        assert reasons[0] == f"granted|env_strategy|{spec.plugin_dir}"


def test_plugin_error_in_warm_process_is_reported_like_cold(warm_pool):
    with start_plugin(python_spec("misbehave.py")) as proxy:
        proxy.initialize({}, "r")
        with pytest.raises(Exception) as info:
            proxy.run_batch(batch(1))
        assert "boom" in str(info.value)
