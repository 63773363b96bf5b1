"""The diagnosis (client/diagnosis.py) is pure: facts in, a typed error out. These pin its wording for each
kind of exit and wire error without a process (the end-to-end wording is pinned by tests/faults and
tests/authoring/test_error_messages.py too)."""

from __future__ import annotations

import pytest
from plughost.client.diagnosis import Diagnosis, Stderr, WireError, doing, load_hint
from plughost.errors import FrameTooLarge, PluginCrashed, PluginProtocolError, ResourceLimitExceeded
from plughost.protocol.framing import FrameSizeViolation, ProtocolViolation
from plughost.transport.stack import StackDump

QUIET = Stderr("", False)
NOISY = Stderr("Traceback: boom\n", True)


@pytest.fixture
def diagnosis() -> Diagnosis:
    return Diagnosis("p", "python")


@pytest.mark.parametrize(("code", "detail", "stderr", "message", "hint"), [
    (3, "", NOISY, "plugin 'p' exited with code 3 while processing a batch of candles",
     "see the stderr tail below; a plugin must not exit on its own"),
    (3, "", QUIET, "plugin 'p' exited with code 3 while processing a batch of candles",
     "it wrote nothing on stderr; a plugin must not exit on its own (look for sys.exit/os._exit/process.exit in "
     "its code)"),
    (0, "stopped reading its input", NOISY,
     "plugin 'p' stopped reading its input (exit code 0) while processing a batch of candles",
     "see the stderr tail below"),
    (0, "stopped reading its input", QUIET,
     "plugin 'p' stopped reading its input (exit code 0) while processing a batch of candles",
     "it wrote nothing on stderr (look for sys.exit/os._exit/process.exit in its code)"),
    (-11, "", NOISY, "plugin 'p' was killed by SIGSEGV while processing a batch of candles",
     "see the stderr tail below for the fault (Python plugins print a faulthandler trace)"),
    (-11, "", QUIET, "plugin 'p' was killed by SIGSEGV while processing a batch of candles",
     "it wrote nothing on stderr for the fault (Python plugins print a faulthandler trace)"),
    (-9, "", QUIET, "plugin 'p' was killed by SIGKILL while processing a batch of candles",
     "SIGKILL often means the out-of-memory killer; check its memory use"),
])
def test_each_kind_of_exit_has_its_words(diagnosis: Diagnosis, code: int, detail: str, stderr: Stderr,
                                         message: str, hint: str) -> None:
    err = diagnosis.crashed(doing("candles"), code, stderr, detail=detail, hook="candles")
    assert isinstance(err, PluginCrashed)
    assert (err.message, err.hint, err.hook) == (message, hint, "candles")
    assert (err.exit_code, err.signal_name) == ((None, f"SIG{'SEGV' if code == -11 else 'KILL'}") if code < 0
                                                else (code, None))
    assert (err.stderr_tail, err.stderr_truncated) == (stderr.tail, stderr.truncated)


def test_a_crash_that_says_out_of_memory_under_a_limit_is_a_resource_limit(diagnosis: Diagnosis) -> None:
    oom = Stderr("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n", False)
    assert isinstance(diagnosis.crashed("in initialize", 134, oom), PluginCrashed)  # no limit: a crash
    diagnosis.memory_limit_mb = 256
    err = diagnosis.crashed("in initialize", 134, oom, hook="initialize")
    assert isinstance(err, ResourceLimitExceeded)
    assert err.message == ("plugin 'p' exited with code 134 in initialize: it ran out of memory under its limit of "
                           "256 MB")
    assert err.hint == "raise `memory_limit_mb` in the run config if the plugin really needs more"


def test_the_handshake_exit_is_a_handshake_error(diagnosis: Diagnosis) -> None:
    err = diagnosis.died_before_hello(1, QUIET)
    assert err.code == "PLUGIN_HANDSHAKE_FAILED" and err.hook is None
    assert err.message == "plugin 'p' exited with code 1 before its handshake (hello)"


def test_wire_error_parse_tolerates_garbage() -> None:
    assert WireError.parse({}) == WireError("Error", "", None, None, "")
    parsed = WireError.parse({"type": None, "message": 5, "hook": "", "at": "3", "traceback": None})
    assert parsed == WireError("Error", "5", None, None, "")


def test_a_raised_error_names_hook_candle_and_shortens_long_messages(diagnosis: Diagnosis) -> None:
    err = diagnosis.raised(WireError("KeyError", "k" * 2500, None, 7, "tb"), "candles")
    assert err is not None
    assert err.message == f"plugin 'p' raised KeyError in candles: {'k' * 2000}... (2500 characters)"
    assert err.at == 7  # kept, though only on_candle names it in the message
    err = diagnosis.raised(WireError("KeyError", "k", "on_candle", 7, "tb"), "candles")
    assert err is not None and err.message == "plugin 'p' raised KeyError in on_candle at candle 7 of the batch: k"


def test_a_memory_error_is_a_plain_error_without_a_limit(diagnosis: Diagnosis) -> None:
    error = WireError("MemoryError", "", "initialize", None, "")
    assert diagnosis.raised(error, "initialize") is not None
    diagnosis.memory_limit_mb = 64
    assert diagnosis.raised(error, "initialize") is None
    assert diagnosis.out_of_memory(error, "initialize", QUIET).limit_mb == 64


def test_protocol_violations_by_kind(diagnosis: Diagnosis) -> None:
    assert type(diagnosis.broke_protocol(FrameSizeViolation("frame too large", "x"), QUIET)) is FrameTooLarge
    err = diagnosis.broke_protocol(ProtocolViolation("invalid msgpack", "y"), NOISY)
    assert type(err) is PluginProtocolError and err.message == "plugin 'p' broke the protocol: invalid msgpack: y"


def test_a_timeout_says_where_the_plugin_was(diagnosis: Diagnosis, tmp_path) -> None:
    stack = StackDump("Current thread ...", str(tmp_path / "s.py"), 12, "on_candle")
    err = diagnosis.timed_out("candles", 1.5, stack, QUIET)
    assert err.message == (f"plugin 'p' did not answer within 1.5s while processing a batch of candles; it was at "
                           f"{tmp_path / 's.py'}:12 in on_candle; its process tree was killed")
    assert err.stopped_at == {"file": str(tmp_path / "s.py"), "line": 12, "function": "on_candle"}
    assert diagnosis.timed_out("ping", 2, None, QUIET).message == (
        "plugin 'p' did not answer within 2s while answering a ping; its process tree was killed")


def test_load_hints_by_language() -> None:
    assert load_hint("missing_module", "typescript").startswith("`npm install` it")
    assert load_hint("no_plugin", "javascript").startswith("`export default`")
    assert load_hint("syntax", "python") == "fix the syntax at that line (the plugin was not run)"
    assert load_hint("something new", "python") == load_hint("raised", "node")
