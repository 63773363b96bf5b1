"""Every error a user can meet, as they read it: it names the plugin (or the file), says what happened and
what to do next (the `-> ...` line). One row per error code in plughost/errors.py, each produced for real
through `plughost run` on a scaffolded plugin broken in one way."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from plughost import errors

from .conftest import CANDLES, Cli, node_toolchain


@dataclass
class Case:
    code: str
    # (source text, replacement) edits of the scaffold's strategy.py, or a callable changing the folder
    edit: Callable[[Path], None] = lambda p: None
    args: tuple[str, ...] = ()
    strategy: str = "probe"
    mentions: tuple[str, ...] = ()  # further words the message must contain
    node: bool = False
    expect_plugin: str | None = "probe"
    env: dict[str, str] = field(default_factory=dict)


def _src(old: str, new: str) -> Callable[[Path], None]:
    def edit(plugin: Path) -> None:
        source = plugin / "strategy.py"
        text = source.read_text()
        assert old in text, old
        source.write_text(text.replace(old, new, 1))

    return edit


def _manifest(**changes: object) -> Callable[[Path], None]:
    def edit(plugin: Path) -> None:
        data = json.loads((plugin / "plugin.json").read_text())
        data.update(changes)
        (plugin / "plugin.json").write_text(json.dumps(data))

    return edit


def _javascript(runner_bytes: bytes | None = None) -> Callable[[Path], None]:
    """Turn the plugin into plain Node.js; with `runner_bytes`, the process writes those bytes on its protocol
    stream instead of running the SDK (a broken or foreign runner: plugin code itself cannot reach it)."""

    def edit(plugin: Path) -> None:
        (plugin / "strategy.py").unlink()
        (plugin / "index.js").write_text(
            "module.exports = { name: 'probe', version: '0.1.0', onCandle() { return null; } };\n")
        _manifest(language="javascript", entry="index.js")(plugin)
        if runner_bytes is not None:
            runner = plugin.parent / "bad-runner.js"
            runner.write_text(f"process.stdout.write(Buffer.from('{runner_bytes.hex()}', 'hex'));\n"
                              "setTimeout(() => {}, 30000);\n")
            os.environ["PLUGHOST_TS_RUNNER"] = str(runner)  # restored by the test's monkeypatch

    return edit


ON_CANDLE = "        if len(ctx.history) < self.lookback:\n"
CASES = [
    Case("PLUGIN_NOT_FOUND", strategy="prob", expect_plugin="prob", mentions=("did you mean 'probe'",)),
    Case("MANIFEST_INVALID", edit=_manifest(colour="red"), mentions=("colour", "validate-plugin")),
    Case("CONFIG_INVALID", args=("--config", "cfg.json"), mentions=("lookbak", "lookback, threshold_pct")),
    Case("PLUGIN_ERROR", edit=_src(ON_CANDLE, "        raise ValueError('boom')\n" + ON_CANDLE),
         mentions=("ValueError", "boom", "on_candle", "strategy.py")),
    Case("PLUGIN_CRASHED", edit=_src(ON_CANDLE, "        import os; os._exit(3)\n" + ON_CANDLE),
         mentions=("code 3",)),
    Case("PLUGIN_TIMEOUT", edit=_src(ON_CANDLE, "        import time; time.sleep(30)\n" + ON_CANDLE),
         args=("--call-timeout", "1"), mentions=("--call-timeout",)),
    Case("PLUGIN_START_TIMEOUT", edit=_src("from typing import Any\n", "from typing import Any\nimport time\n"
                                           "time.sleep(30)\n"),
         args=("--start-timeout", "1"), mentions=("--start-timeout",)),
    Case("PLUGIN_LOAD_FAILED",
         edit=_src("from typing import Any\n", "from typing import Any\nimport no_such_module_xyz\n"),
         mentions=("strategy.py:", "import no_such_module_xyz")),
    Case("INTERFACE_MISMATCH", edit=_src("    def on_candle(", "    def on_candle_renamed("),
         mentions=("on_candle",)),
    Case("PLUGIN_HANDSHAKE_FAILED", edit=_src('    version = "0.1.0"', '    version = "9.9.9"'),
         mentions=("9.9.9", "plugin.json")),
    Case("PLUGIN_SPAWN_FAILED", edit=_javascript(), env={"PLUGHOST_NODE": "/nonexistent/node"},
         mentions=("/nonexistent/node",)),
    Case("PLUGIN_PROTOCOL_ERROR", edit=_javascript(b"\x00\x00\x00\x03\xc1\xc1\xc1"), node=True,
         mentions=("protocol",)),
    Case("PLUGIN_FRAME_TOO_LARGE", edit=_javascript(b"\x7f\xff\xff\xff"), node=True, mentions=("protocol",)),
    Case("DATA_INVALID", args=("--candles", "bad.csv"), expect_plugin=None, mentions=("bad.csv", "close")),
]
NOT_RAISED_BY_RUN = {
    "PLUGHOST_ERROR": "the base class",
    "PLUGIN_FAILURE": "the base class of plugin process failures",
    "USAGE_ERROR": "covered by test_run_without_arguments_says_what_to_run",
    "PLUGIN_DISABLED": "covered by test_disabled_plugin",
    "RESOURCE_LIMIT": "not raised by any code path yet (no memory limit is enforced)",
    "STATE_INVALID": "covered by tests/plugins/test_registry.py::test_corrupt_state_fails_closed",
    "OUTPUT_REFUSED": "covered by tests/security/test_outputs.py",
    "DISK_FULL": "covered by tests/security/test_disk_full.py (needs a small tmpfs)",
    "SANDBOX_UNAVAILABLE": "covered by tests/security/test_sandbox.py::test_sandbox_unavailable_is_a_clear_error",
    # the batch's codes: `plughost run --batch`, not a single run
    "BATCH_LOCKED": "covered by tests/batch/test_local.py::test_second_host_on_the_same_folder_refuses",
    "JOURNAL_CORRUPT": "covered by tests/security/test_inputs.py::test_a_corrupt_journal_is_a_clear_error",
    "RECORD_FAILED": "covered by tests/batch/test_local.py::"
                     "test_an_exception_while_recording_one_run_fails_only_that_run",
    "PLUGIN_QUARANTINED": "covered by tests/security/test_batch_faults.py::"
                          "test_a_plugin_that_cannot_start_is_still_quarantined",
    "WORKER_LOST": "covered by tests/batch/test_local.py::test_a_dying_worker_fails_only_its_run_and_is_replaced",
    "INTERRUPTED": "covered by tests/security/test_interrupt.py::test_ctrl_c_in_the_first_second",
}


def test_every_error_code_has_a_row() -> None:
    codes = {cls.code for cls in errors.error_classes()}
    assert codes == {c.code for c in CASES} | set(NOT_RAISED_BY_RUN)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.code)
def test_rendered_message_names_plugin_and_next_step(case: Case, scaffold: Callable[..., Path], cli: Cli,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGHOST_TS_RUNNER", os.environ.get("PLUGHOST_TS_RUNNER", ""))
    if not os.environ["PLUGHOST_TS_RUNNER"]:
        monkeypatch.delenv("PLUGHOST_TS_RUNNER")
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if case.node and node_toolchain() is None:
        pytest.skip("needs node and the built TypeScript SDK (`make setup`)")
    plugin = scaffold("probe")
    case.edit(plugin)
    (tmp_path / "cfg.json").write_text('{"lookbak": 5}')
    (tmp_path / "bad.csv").write_text("timestamp,open,high,low,volume\n0,1,2,0.5,10\n")
    args = {"--candles": str(CANDLES), "--strategy": case.strategy, "--plugins-dir": str(plugin.parent),
            "--out": str(tmp_path / "out")}
    extra = list(case.args)
    for i in range(0, len(extra), 2):
        args[extra[i]] = extra[i + 1]
    done = cli("run", *[x for kv in args.items() for x in kv])
    assert done.exit_code in (1, 2), done.stdout
    message = done.stderr
    assert case.code in message or _code_of_failed_run(tmp_path) == case.code, message
    if case.expect_plugin:
        assert f"'{case.expect_plugin}'" in message, message
    assert "\n  -> " in message, f"no next step in:\n{message}"
    for word in case.mentions:
        assert word in message, f"{word!r} missing from:\n{message}"


def _code_of_failed_run(tmp_path: Path) -> str | None:
    runs = list((tmp_path / "out" / "runs").glob("*/summary.json")) if (tmp_path / "out").exists() else []
    return json.loads(runs[0].read_text())["error"]["code"] if runs else None


def test_disabled_plugin(scaffold: Callable[..., Path], cli: Cli, tmp_path: Path) -> None:
    plugin = scaffold("probe")
    assert cli("disable-plugin", "probe", "--plugins-dir", plugin.parent).exit_code == 0
    done = cli("run", "--strategy", "probe", "--candles", CANDLES, "--plugins-dir", plugin.parent)
    assert done.exit_code == 2
    assert "'probe' is disabled" in done.stderr and "-> enable it with `plughost enable-plugin probe`" in done.stderr


def test_run_without_arguments_says_what_to_run(cli: Cli, tmp_path: Path) -> None:
    """In a fresh clone, `plughost run` alone names commands that work there, verbatim."""
    repo = Path(__file__).resolve().parents[2]
    done = cli("run", cwd=repo)
    assert done.exit_code == 2
    assert "plughost run --strategy sma-cross --candles data/sample/BTCUSD-1m.parquet" in done.stderr
    assert "plughost run --batch examples/demo-batch.toml" in done.stderr
    assert (repo / "data/sample/BTCUSD-1m.parquet").is_file() and (repo / "examples/demo-batch.toml").is_file()
    assert (repo / "plugins/strategies/sma-cross/plugin.json").is_file()
    assert shutil.which("plughost") or True  # the venv's bin: see README
