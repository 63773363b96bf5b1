"""Crash cases: a plugin dies in every way we know of; the host reports it precisely and goes on."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import LANGS, NODE_OK, NODE_SKIP, STRATEGY, Runner, failed_error, fingerprint


@pytest.mark.parametrize("lang", LANGS)
def test_exit_mid_call(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "exit_mid_call", batch_size=10)  # 2 batches answered, then exit(3) in the third
    assert time.monotonic() - began < 5.0
    error = failed_error(outcome, "PLUGIN_CRASHED", name)
    assert error["exit_code"] == 3 and error["signal"] is None
    assert error["hook"] == "candles"
    assert "exit code 3" in error["message"] or "code 3" in error["message"]
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_exit0_before_handshake_is_never_success(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    outcome = runner.run(name, "exit0_before_hello")
    error = failed_error(outcome, "PLUGIN_HANDSHAKE_FAILED", name)
    assert "before its handshake" in error["message"] and "code 0" in error["message"]
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_exit0_after_handshake_without_reply(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    outcome = runner.run(name, "exit0_no_reply")
    error = failed_error(outcome, "PLUGIN_CRASHED", name)
    assert error["exit_code"] == 0 and error["hook"] == "initialize"
    runner.assert_clean_run_identical(name)


def test_sigsegv_reports_signal_and_faulthandler_trace(runner: Runner) -> None:
    outcome = runner.run("faulty-py", "segv")
    error = failed_error(outcome, "PLUGIN_CRASHED", "faulty-py")
    assert error["signal"] == "SIGSEGV" and error["exit_code"] is None
    assert "Fatal Python error: Segmentation fault" in error["stderr_tail"]
    assert "main.py" in error["stderr_tail"]  # the trace names the plugin's own file
    assert "SIGSEGV" in error["message"]
    runner.assert_clean_run_identical("faulty-py")


@pytest.mark.node
@pytest.mark.skipif(not NODE_OK, reason=NODE_SKIP)
def test_node_abort_reports_signal(runner: Runner) -> None:
    outcome = runner.run("faulty-js", "abort")
    error = failed_error(outcome, "PLUGIN_CRASHED", "faulty-js")
    assert error["signal"] == "SIGABRT"
    runner.assert_clean_run_identical("faulty-js")


@pytest.mark.parametrize("lang", LANGS)
def test_sigkill_of_itself_hints_at_oom(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    outcome = runner.run(name, "sigkill_self")
    error = failed_error(outcome, "PLUGIN_CRASHED", name)
    assert error["signal"] == "SIGKILL"
    assert "out-of-memory" in error["hint"]
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_one_megabyte_exception_message(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "big_message")
    assert time.monotonic() - began < 5.0
    error = failed_error(outcome, "PLUGIN_ERROR", name)
    assert error["hook"] == "on_candle" and error["at"] == 25
    assert len(error["message"]) < 4000  # shortened for display...
    assert "x" * (1 << 20) in error["traceback"]  # ...while the plugin's own record keeps all of it
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_non_ascii_exception_message_intact(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    error = failed_error(runner.run(name, "non_ascii"), "PLUGIN_ERROR", name)
    assert "中 \xd6\xd0 prix \u20ac \U0001f680" in error["message"]
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_lone_surrogates_in_exception_message(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    error = failed_error(runner.run(name, "surrogate"), "PLUGIN_ERROR", name)
    # Unencodable halves arrive as replacement characters; everything else intact, no decode error.
    assert "bad " in error["message"] and " name " in error["message"]
    assert "\udcff" not in error["message"] and "\ud800" not in error["message"]
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("fault", ["sys_exit", "keyboard_interrupt"])
def test_sys_exit_and_keyboard_interrupt_in_a_callback(runner: Runner, fault: str) -> None:
    began = time.monotonic()
    outcome = runner.run("faulty-py", fault)
    assert time.monotonic() - began < 5.0
    assert outcome.status == "failed"
    error = outcome.summary["error"]
    assert error["code"] in ("PLUGIN_CRASHED", "PLUGIN_ERROR"), error
    assert error["plugin"] == "faulty-py"
    if error["code"] == "PLUGIN_CRASHED":
        assert error["exit_code"] is not None or error["signal"] is not None
    runner.assert_clean_run_identical("faulty-py")


@pytest.mark.parametrize("lang", LANGS)
def test_crash_in_teardown_keeps_results_and_warns(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    outcome = runner.run(name, "teardown_crash")
    assert outcome.status == "ok", outcome.summary["error"]
    assert fingerprint(outcome) == runner.baseline(name)  # every result was sent before the crash: all kept
    warnings = [w for w in outcome.summary["warnings"] if w.get("code") == "TEARDOWN_FAILED"]
    assert len(warnings) == 1, outcome.summary["warnings"]
    warning = warnings[0]
    assert warning["plugin"] == name and warning["exit_code"] == 7
    assert "teardown: crashing" in warning["stderr_tail"]
    runner.assert_clean_run_identical(name)


@pytest.mark.node
@pytest.mark.skipif(not NODE_OK, reason=NODE_SKIP)
def test_node_unhandled_rejection_fails_the_run(runner: Runner) -> None:
    """docs/typescript-sdk.md: an unhandled rejection ends the plugin (PLUGIN_CRASHED), never a silent log line."""
    outcome = runner.run("faulty-js", "unhandled_rejection", batch_size=8)
    error = failed_error(outcome, "PLUGIN_CRASHED", "faulty-js")
    assert "unhandled promise rejection" in error["stderr_tail"] and "a stray promise rejected" in error["stderr_tail"]
    runner.assert_clean_run_identical("faulty-js")
