"""Node warm starts with real processes: a spare Node runner becomes the plugin's own process, with the
environment, folder and fresh module state of a cold start; a spare that cannot serve leaves a cold start."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from plughost.client.proxies import Timeouts, start_plugin
from plughost.errors import PluginCrashed, PluginTimeout
from plughost.transport.process import COLD, LaunchSpec, Spawner, node_runner
from plughost.transport.warm import WarmSpawner

from tests.conftest import REPO, pid_gone
from tests.node.test_node_plugins import batch

NODE_FIXTURES = REPO / "tests" / "fixtures" / "plugins" / "node"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not node_runner().is_file(), reason="TypeScript SDK not built (make setup)"),
]


def js_spec(file: str, extra_env: dict[str, str] | None = None) -> LaunchSpec:
    path = NODE_FIXTURES / file
    return LaunchSpec(path.stem, "strategy", "javascript", path, path.parent, dict(extra_env or {}))


@pytest.fixture
def warm():
    spawner = WarmSpawner()
    yield spawner
    spawner.close()


def ready_spare(warm: WarmSpawner) -> int:
    warm.node.fill()
    (pid,) = warm.node.waiting
    return pid


def reasons(spec: LaunchSpec, warm: Spawner) -> tuple[int, list[str]]:
    with start_plugin(spec, timeouts=Timeouts(call=10), spawner=warm) as proxy:
        assert os.getpgid(proxy.hello.pid) == proxy.hello.pid  # its own session, like a cold start
        proxy.initialize({}, "r")
        return proxy.hello.pid, [s.reason or "" for s in proxy.run_batch(batch(9)).signals]


def test_spare_becomes_the_plugin_with_its_env_folder_and_fresh_module_state(warm):
    spec = js_spec("counter.js", {"PLUGHOST_TEST_GRANT": "granted"})
    pids = []
    for run in range(3):
        spare = ready_spare(warm)
        pid, got = reasons(spec, warm)
        assert pid == spare and warm.node.served == run + 1 and warm.node.cold == 0
        # calls 1, 2, 3 within the run; every module-level count starts again in each run's process
        assert got == [f"{n}|1|1|granted|{spec.plugin_dir}|false|true" for n in (1, 2, 3)]
        pids.append(pid)
    assert len(set(pids)) == 3
    _cold_pid, cold = reasons(spec, COLD)
    assert [r.rsplit("|", 1)[0] for r in cold] == [r.rsplit("|", 1)[0] for r in got]  # same as cold but the origin
    assert cold[0].endswith("|false")


def test_first_node_start_is_cold_and_starts_the_spare(warm):
    assert warm.node.waiting == []
    _pid, got = reasons(js_spec("counter.js"), warm)
    assert got[0].endswith("|false") and warm.node.cold == 1 and warm.node.served == 0
    deadline = time.monotonic() + 10
    while not warm.node.waiting and time.monotonic() < deadline:  # started in the background
        time.sleep(0.02)
    assert len(warm.node.waiting) == 1
    _pid, got = reasons(js_spec("counter.js"), warm)
    assert got[0].endswith("|true") and warm.node.served == 1


def test_a_dead_spare_is_replaced_by_a_cold_start_without_failing_the_run(warm):
    spare = ready_spare(warm)
    os.kill(spare, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.Process(spare).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)
    pid, got = reasons(js_spec("counter.js"), warm)
    assert pid != spare and got[0].startswith("1|") and got[0].endswith("|false")
    assert warm.node.cold == 1 and warm.node.served == 0
    assert ready_spare(warm) != spare  # a new one waits for the next start
    _pid, got = reasons(js_spec("counter.js"), warm)
    assert got[0].endswith("|true") and warm.node.served == 1


def test_node_start_up_variables_start_cold_and_keep_the_spare(warm):
    spare = ready_spare(warm)
    spec = js_spec("counter.js", {"NODE_OPTIONS": "--no-deprecation", "PLUGHOST_TEST_GRANT": "opts"})
    _pid, got = reasons(spec, warm)
    assert got[0].endswith("|opts|" + str(spec.plugin_dir) + "|false|false")
    assert warm.node.cold == 1 and warm.node.waiting == [spare]


def test_a_missing_plugin_folder_fails_as_a_cold_start_does(warm, tmp_path: Path):
    from plughost.errors import PluginSpawnFailed

    spare = ready_spare(warm)
    gone = tmp_path / "gone"
    spec = LaunchSpec("gone", "strategy", "javascript", gone / "index.js", gone)
    with pytest.raises(PluginSpawnFailed):
        start_plugin(spec, spawner=warm)
    assert warm.node.waiting == [spare]


@pytest.mark.parametrize(("volume", "exit_code"), [(2, 3)])
def test_a_crash_in_a_warm_node_plugin_is_reported_like_cold(warm, volume, exit_code):
    ready_spare(warm)
    with start_plugin(js_spec("misbehave.js"), spawner=warm) as proxy:
        assert warm.node.served == 1
        proxy.initialize({}, "r")
        with pytest.raises(PluginCrashed) as info:
            proxy.run_batch(batch(volume))
        assert info.value.exit_code == exit_code


def test_a_hung_warm_node_plugin_times_out_with_its_stack_and_its_tree_dies(warm):
    ready_spare(warm)
    with start_plugin(js_spec("misbehave.js"), timeouts=Timeouts(call=1.0, term_grace=0.5), spawner=warm) as proxy:
        assert warm.node.served == 1
        proxy.initialize({}, "r")
        with pytest.raises(PluginTimeout) as info:
            proxy.run_batch(batch(4))
        assert pid_gone(proxy.hello.pid)
    # the stack watchdog the spare started before it waited dumped the main thread's stack
    stopped = info.value.to_dict()["stopped_at"]
    assert stopped is not None and stopped["file"].endswith("misbehave.js"), info.value.to_dict()


def test_console_and_fd1_writes_of_a_warm_plugin_reach_its_stderr_tail(warm):
    ready_spare(warm)
    with start_plugin(js_spec("misbehave.js"), spawner=warm) as proxy:
        assert warm.node.served == 1
        proxy.initialize({}, "r")
        assert [s.reason for s in proxy.run_batch(batch(5)).signals][:1] == ["v5"]
        assert [s.reason for s in proxy.run_batch(batch(6, offset=3)).signals][:1] == ["v6"]
        proxy.session.process.stderr.join(0.5)
        tail = proxy.session.process.stderr.text()
    assert "flood line 299" in tail and "raw bytes on fd 1" in tail and "child on stdout" in tail


def test_close_stops_the_waiting_spare(warm):
    spare = ready_spare(warm)
    warm.close()
    assert pid_gone(spare) and warm.node.waiting == []
