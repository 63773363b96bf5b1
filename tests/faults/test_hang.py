"""Hang cases: every wait has a deadline, and a hung plugin's whole process tree is killed."""

from __future__ import annotations

import time

import pytest
from plughost.client.proxies import Timeouts, start_plugin
from plughost.errors import PluginProtocolError
from plughost.transport.process import LaunchSpec

from tests.faults.conftest import FIXTURES, LANGS, STRATEGY, TOKEN, TOKEN_VAR, Runner, failed_error


@pytest.mark.parametrize("lang", LANGS)
def test_never_handshakes(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "never_hello", start_timeout=1.0)
    assert time.monotonic() - began < 1.0 + 1.0 + 2.0  # start timeout + 1 s, plus the clean close
    error = failed_error(outcome, "PLUGIN_START_TIMEOUT", name)
    assert "within 1s" in error["message"]
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_infinite_loop_in_a_call(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "loop", call_timeout=1.0)
    assert time.monotonic() - began < 1.0 + 2.0 + 1.5  # call timeout + term grace + 1 s (+ start)
    error = failed_error(outcome, "PLUGIN_TIMEOUT", name)
    assert error["hook"] == "candles" and error["timeout"] == 1.0
    runner.assert_clean_run_identical(name)


@pytest.mark.parametrize("lang", LANGS)
def test_ignores_sigterm_is_killed_after_the_grace(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "ignore_term", call_timeout=1.0)
    took = time.monotonic() - began
    assert took < 1.0 + 2.0 + 1.5, took  # call timeout + term grace (2 s) + 1 s
    failed_error(outcome, "PLUGIN_TIMEOUT", name)
    runner.assert_clean_run_identical(name)


def test_half_frame_then_stall_is_a_protocol_error() -> None:
    spec = LaunchSpec("raw-wire", "strategy", "python", FIXTURES / "python" / "raw_wire.py",
                      FIXTURES / "python", {TOKEN_VAR: TOKEN, "FAULT": "half_frame_stall"})
    proxy = start_plugin(spec, timeouts=Timeouts(start=5.0, call=10.0, term_grace=1.0, partial_frame=0.5))
    began = time.monotonic()
    with pytest.raises(PluginProtocolError) as info:
        proxy.initialize({}, "r")
    assert 0.5 <= time.monotonic() - began < 2.5
    assert info.value.code == "PLUGIN_PROTOCOL_ERROR"
    assert "partial frame stalled" in str(info.value) and "raw-wire" in str(info.value)
    proxy.close()


@pytest.mark.parametrize("lang", LANGS)
def test_exit_while_a_grandchild_keeps_stdout_open(runner: Runner, lang: str) -> None:
    name = STRATEGY[lang]
    began = time.monotonic()
    outcome = runner.run(name, "grandchild_stdout")
    assert time.monotonic() - began < 4.0  # noticed from the exit (pidfd), not from EOF that never comes
    error = failed_error(outcome, "PLUGIN_CRASHED", name)
    assert error["exit_code"] == 0 and error["hook"] == "candles"
    # the autouse check finds the `sleep 1000` grandchild by its environment if it survived
    runner.assert_clean_run_identical(name)
