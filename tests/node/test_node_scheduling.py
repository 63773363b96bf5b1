"""A Node plugin's own scheduled work runs between requests as it would in any Node program, however fast
the host sends them: the runner keeps its event loop turning (it never holds a request loop of its own),
so nextTicks, Promise jobs, immediates and timers run between two synchronous calls, async answers come
back while synchronous calls go on, and a process.exit scheduled right after an answer happens before the
next request is read."""

from __future__ import annotations

import time

import numpy as np
import pytest
from plughost.errors import PluginCrashed
from plughost.protocol.messages import CandleBatch
from plughost.transport.process import LaunchSpec, node_runner

from tests.conftest import REPO

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)"),
]

FIXTURE = REPO / "tests" / "fixtures" / "plugins" / "node" / "scheduling.js"
SYNC, ASYNC_TIMER, ASYNC_JOB, EXIT_AFTER = 1, 2, 3, 4


# The runner spins only while the machine has idle CPUs (sdk-typescript/src/spin.ts): both ways, whatever
# the load of the machine running the tests.
SPIN_MODES = ["always", "never"]


def spec(spin: str) -> LaunchSpec:
    return LaunchSpec("scheduling", "strategy", "javascript", FIXTURE, FIXTURE.parent, {"PLUGHOST_NODE_SPIN": spin})


def one(mode: int, k: int) -> CandleBatch:
    ts = np.array([1_700_000_000_000 + k * 60_000], np.int64)
    close = np.array([100.0])
    return CandleBatch(["TEST"], k, ts, close, close + 1, close - 1, close, np.array([float(mode)]),
                       np.zeros(1, np.int32))


def reason(proxy, mode: int, k: int) -> str:
    (signal,) = proxy.run_batch(one(mode, k)).signals
    return signal.reason


@pytest.mark.parametrize("spin", SPIN_MODES)
def test_callbacks_scheduled_by_a_call_have_run_before_the_next_call(start, spin):
    proxy = start(spec(spin))
    proxy.initialize({}, "r")
    for k in range(300):  # back to back: each request follows the previous answer within microseconds
        assert reason(proxy, SYNC, k).split()[0] == f"{k}:{k}/{k}/{k}"


@pytest.mark.parametrize("spin", SPIN_MODES)
def test_a_timer_fires_between_synchronous_requests_that_keep_coming(start, spin):
    proxy = start(spec(spin))
    proxy.initialize({}, "r")
    assert reason(proxy, SYNC, 0).endswith("armed")
    armed = time.monotonic()
    k = 1
    while not reason(proxy, SYNC, k).endswith("fired"):
        k += 1
        assert time.monotonic() - armed < 1.0, f"the 5 ms timer has not fired after {k} requests"


@pytest.mark.parametrize("spin", SPIN_MODES)
def test_async_answers_interleave_with_synchronous_ones(start, spin):
    proxy = start(spec(spin))
    proxy.initialize({}, "r")
    for k in range(40):
        began = time.monotonic()
        assert reason(proxy, ASYNC_TIMER, 3 * k).startswith("timer ")
        assert time.monotonic() - began < 1.0  # the 2 ms timer fired; nothing waited for a next request
        assert reason(proxy, ASYNC_JOB, 3 * k + 1).startswith("job ")
        assert reason(proxy, SYNC, 3 * k + 2).split()[0] == f"{k}:{k}/{k}/{k}"


@pytest.mark.parametrize("spin", SPIN_MODES)
def test_exit_scheduled_right_after_a_fast_stream_of_answers_loses_nothing(start, spin):
    for _ in range(3):
        proxy = start(spec(spin))
        proxy.initialize({}, "r")
        for k in range(50):
            reason(proxy, SYNC, k)
        assert reason(proxy, EXIT_AFTER, 50).split()[0] == "50:50/50/50"
        with pytest.raises(PluginCrashed):
            proxy.run_batch(one(SYNC, 51))
