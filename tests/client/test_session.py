"""The session (client/session.py) in memory: the test plays the plugin on the other end of a socketpair
(tests/client/conftest.py), so every turn of the conversation and every failure is exact and fast."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from plughost.client.session import Session
from plughost.errors import (
    HandshakeError,
    PluginCrashed,
    PluginError,
    PluginLoadFailed,
    PluginProtocolError,
    PluginTimeout,
    ResourceLimitExceeded,
)
from plughost.protocol.codec import NOTIFICATION, REQUEST, Notification, Request
from plughost.protocol.framing import encode_frame

from tests.client.conftest import FakeProcess, make_session


def test_hello_then_requests_answered_in_any_order(fake: FakeProcess, session: Session) -> None:
    fake.plugin.hello()
    hello = session.wait_hello(2.0)
    assert (hello.name, hello.plugin_type, hello.pid, hello.sdk) == ("fake", "strategy", 4242, "fake-sdk")
    first = session.send_request("initialize", {"config": {"fast": 3}})
    second = session.send_request("ping", "hi")
    assert fake.plugin.read() == Request(1, "initialize", {"config": {"fast": 3}})
    assert fake.plugin.read() == Request(2, "ping", "hi")
    fake.plugin.answer(2, "pong")  # answers come back in any order
    fake.plugin.answer(1, None)
    assert session.wait_response(second, timeout=2.0) == "pong"
    assert session.wait_response(first, timeout=2.0) is None
    assert session.alive


def test_an_error_map_is_a_plugin_error_and_the_session_goes_on(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("candles", {})
    fake.plugin.answer(pending.msgid, error={"type": "ValueError", "message": "bad candle", "hook": "on_candle",
                                             "at": 3, "traceback": "Traceback ..."})
    with pytest.raises(PluginError) as info:
        greeted.wait_response(pending, timeout=2.0)
    err = info.value
    assert err.message == "plugin 'fake' raised ValueError in on_candle at candle 3 of the batch: bad candle"
    assert (err.error_type, err.hook, err.at, err.traceback) == ("ValueError", "on_candle", 3, "Traceback ...")
    assert err.hint == "fix the plugin code (its traceback is below); the run's other plugins are unaffected"
    assert greeted.alive and fake.kills == 0
    pending = greeted.send_request("ping", None)
    fake.plugin.answer(pending.msgid, 1)
    assert greeted.wait_response(pending, timeout=2.0) == 1


def test_garbage_breaks_the_protocol_kills_the_process_and_sticks(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("ping", None)
    fake.write_stderr("oops\n")
    fake.plugin.raw(encode_frame(b"\xc1"))  # a frame whose body is not msgpack
    with pytest.raises(PluginProtocolError) as info:
        greeted.wait_response(pending, timeout=2.0)
    err = info.value
    assert err.message.startswith("plugin 'fake' broke the protocol: invalid msgpack")
    assert err.hint == "something in the plugin writes to the protocol stream, or its SDK is incompatible"
    assert err.stderr_tail == "oops\n"
    assert fake.kills >= 1 and not greeted.alive
    with pytest.raises(PluginProtocolError) as again:  # later calls get the same failure, not a new one
        greeted.send_request("ping", None)
    assert again.value is err


def test_an_answer_to_no_request_breaks_the_protocol(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("ping", None)
    fake.plugin.answer(99, "stray")
    with pytest.raises(PluginProtocolError, match="unexpected response: no request with id 99 is waiting"):
        greeted.wait_response(pending, timeout=2.0)


def test_a_request_from_the_plugin_breaks_the_protocol(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("ping", None)
    fake.plugin.send([REQUEST, 1, "evil", None])
    with pytest.raises(PluginProtocolError, match="plugins may not send requests \\('evil'\\)"):
        greeted.wait_response(pending, timeout=2.0)


def test_no_answer_within_the_deadline_is_a_timeout(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("candles", {})
    began = time.monotonic()
    with pytest.raises(PluginTimeout) as info:
        greeted.wait_response(pending, timeout=0.2)
    assert 0.2 <= time.monotonic() - began < 3.0
    err = info.value
    assert err.message == ("plugin 'fake' did not answer within 0.2s while processing a batch of candles; "
                           "its process tree was killed")
    assert (err.timeout, err.hook, err.stack) == (0.2, "candles", None)
    assert fake.kills >= 1


def test_exit_before_hello_is_a_handshake_error_with_stderr(fake: FakeProcess, session: Session) -> None:
    fake.write_stderr("ImportError: nope\n")
    fake.exit(3)
    with pytest.raises(HandshakeError) as info:
        session.wait_hello(2.0)
    err = info.value
    assert err.message == "plugin 'fake' exited with code 3 before its handshake (hello)"
    assert err.hint == "see the stderr tail below; a plugin must not exit on its own"
    assert err.stderr_tail == "ImportError: nope\n"


def test_death_by_signal_mid_call_names_the_signal(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("candles", {})
    fake.exit(-11)
    with pytest.raises(PluginCrashed) as info:
        greeted.wait_response(pending, timeout=2.0)
    err = info.value
    assert err.message == "plugin 'fake' was killed by SIGSEGV while processing a batch of candles"
    assert (err.signal_name, err.exit_code, err.hook) == ("SIGSEGV", None, "candles")
    assert err.hint == "it wrote nothing on stderr for the fault (Python plugins print a faulthandler trace)"


def test_answers_sent_before_an_exit_are_still_read(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("ping", None)
    fake.plugin.answer(pending.msgid, "last")
    fake.exit(0)
    assert greeted.wait_response(pending, timeout=2.0) == "last"
    with pytest.raises(PluginCrashed, match="exited with code 0 between calls"):
        greeted.send_request("ping", None)


def test_an_exit_seen_with_an_answer_names_the_pipelined_request_it_died_in(fake: FakeProcess,
                                                                             greeted: Session) -> None:
    """Batch k+1 is sent before k's answer is read: a plugin that answers k and dies in k+1 died doing k+1,
    even when its exit arrives in the same poll as k's answer and the host finds it sending k+2."""
    first = greeted.send_request("candles", {"k": 1})
    greeted.send_request("candles", {"k": 2})
    fake.plugin.answer(first.msgid, {"signals": []})
    fake.exit(3)
    assert greeted.wait_response(first, timeout=2.0) == {"signals": []}
    with pytest.raises(PluginCrashed) as info:
        greeted.send_request("candles", {"k": 3})
    err = info.value
    assert err.message == "plugin 'fake' exited with code 3 while processing a batch of candles"
    assert (err.exit_code, err.hook) == (3, "candles")


def test_a_clean_exit_inside_a_frame_is_a_truncated_frame(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("ping", None)
    fake.plugin.raw(encode_frame(b"\x93" + b"x" * 40)[:20])
    fake.exit(0)
    with pytest.raises(PluginProtocolError, match="truncated frame: the stream ended with 20 bytes"):
        greeted.wait_response(pending, timeout=2.0)


def test_a_crash_inside_a_frame_stays_a_crash(fake: FakeProcess, greeted: Session) -> None:
    pending = greeted.send_request("ping", None)
    fake.plugin.raw(encode_frame(b"\x93" + b"x" * 40)[:20])
    fake.exit(2)
    with pytest.raises(PluginCrashed) as info:
        greeted.wait_response(pending, timeout=2.0)
    assert info.value.exit_code == 2


def test_half_a_frame_then_silence_is_a_stall(fake: FakeProcess) -> None:
    session = make_session(fake, partial_frame_timeout=0.2)
    fake.plugin.hello()
    session.wait_hello(2.0)
    pending = session.send_request("ping", None)
    fake.plugin.raw(encode_frame(b"\x93" + b"x" * 40)[:20])
    with pytest.raises(PluginProtocolError, match=r"partial frame stalled: 20 bytes of a frame, then nothing for 0\.2"):
        session.wait_response(pending, timeout=30.0)


def test_hook_errors_are_buffered_and_unknown_notifications_ignored(fake: FakeProcess, greeted: Session) -> None:
    fake.plugin.notify("hook_error", {"hook": "on_trade", "count": 3, "error": {
        "type": "KeyError", "message": "x", "at": 2, "traceback": "Traceback ..."}})
    fake.plugin.notify("from_a_newer_sdk", {"ignored": True})
    fake.plugin.notify("hook_error", ["not", "a", "map"])  # any shape: still a typed report
    pending = greeted.send_request("ping", None)
    fake.plugin.answer(pending.msgid, "ok")
    assert greeted.wait_response(pending, timeout=2.0) == "ok"
    first, second = greeted.take_hook_errors()
    assert (first.hook, first.count, first.error.error_type, first.error.at) == ("on_trade", 3, "KeyError", 2)
    assert first.error.message == "feature 'fake' raised KeyError in on_trade (event 2 of the notification): x"
    assert first.error.traceback == "Traceback ..." and first.error.plugin == "fake"
    assert (second.hook, second.count, second.error.error_type) == ("on_candle", 1, "Error")
    assert greeted.take_hook_errors() == []


def test_a_load_error_is_reported_at_the_authors_line(fake: FakeProcess, session: Session) -> None:
    fake.plugin.notify("load_error", {"type": "ModuleNotFoundError", "message": "No module named 'nope'",
                                      "kind": "missing_module", "file": "/elsewhere/strategy.py", "line": 3,
                                      "source": "import nope", "traceback": "Traceback ..."})
    fake.exit(1)
    with pytest.raises(PluginLoadFailed) as info:
        session.wait_hello(2.0)
    err = info.value
    assert str(err.message).splitlines() == ["/elsewhere/strategy.py:3: ModuleNotFoundError: No module named 'nope'",
                                             "    import nope", "plugin 'fake' could not be loaded"]
    assert (err.kind, err.line, err.source) == ("missing_module", 3, "import nope")
    assert "pip install NAME" in str(err.hint)


@pytest.mark.parametrize(("first", "message"), [
    ([NOTIFICATION, "candles", {}], "plugin 'fake' sent 'candles' before its handshake"),
    ([NOTIFICATION, "hello", {"protocol": 1}], "plugin 'fake' sent a bad hello: bad hello: missing `plugin` map"),
])
def test_a_bad_start_is_a_handshake_error(fake: FakeProcess, session: Session, first: list, message: str) -> None:
    fake.plugin.send(first)
    with pytest.raises(HandshakeError) as info:
        session.wait_hello(2.0)
    assert info.value.message == message and fake.kills >= 1


def test_a_protocol_version_this_host_does_not_speak(fake: FakeProcess, session: Session) -> None:
    fake.plugin.hello(protocol=999)
    with pytest.raises(HandshakeError, match=r"speaks protocol version 999; this host speaks .* \(fake-sdk 9\.9\)"):
        session.wait_hello(2.0)


def test_hello_deadline(fake: FakeProcess, session: Session) -> None:
    with pytest.raises(Exception) as info:
        session.wait_hello(0.2)
    assert info.value.code == "PLUGIN_START_TIMEOUT"  # type: ignore[attr-defined]
    assert str(info.value).startswith("plugin 'fake' did not complete its handshake within 0.2s\n")


def test_a_notification_larger_than_the_socket_is_written_while_the_plugin_reads(fake: FakeProcess,
                                                                                greeted: Session) -> None:
    blob = b"z" * (4 << 20)
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(fake.plugin.read(timeout=10)))
    reader.start()
    greeted.notify("trades", {"trades": [blob]}, timeout=10.0)
    reader.join(10)
    assert got == [Notification("trades", {"trades": [blob]})]


def test_close_asks_for_shutdown_and_reports_a_bad_exit_as_teardown(fake: FakeProcess, greeted: Session) -> None:
    def plugin() -> None:
        request = fake.plugin.read()
        assert isinstance(request, Request) and request.method == "shutdown"
        fake.plugin.answer(request.msgid, None)
        fake.exit(1)

    thread = threading.Thread(target=plugin)
    thread.start()
    greeted.close(timeout=2.0)
    thread.join(5)
    err = greeted.teardown_error
    assert isinstance(err, PluginCrashed)
    assert err.message == "plugin 'fake' exited with code 1 after answering shutdown" and err.hook == "shutdown"


def test_close_after_a_clean_shutdown_leaves_no_teardown_error(fake: FakeProcess, greeted: Session) -> None:
    def plugin() -> None:
        request = fake.plugin.read()
        assert isinstance(request, Request)
        fake.plugin.answer(request.msgid, None)
        fake.exit(0)

    thread = threading.Thread(target=plugin)
    thread.start()
    greeted.close(timeout=2.0)
    thread.join(5)
    assert greeted.teardown_error is None and fake.kills == 1


def test_close_with_a_request_in_flight_kills_without_shutdown(fake: FakeProcess, greeted: Session) -> None:
    greeted.send_request("candles", {})
    began = time.monotonic()
    greeted.close(timeout=5.0)
    assert time.monotonic() - began < 1.0 and fake.kills == 1 and greeted.teardown_error is None


@pytest.fixture
def sleeper() -> subprocess.Popen[bytes]:
    """A real, small process whose resident size the memory watchdog can read."""
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


def test_the_memory_watchdog_kills_a_plugin_over_its_limit(fake: FakeProcess, greeted: Session,
                                                           sleeper: subprocess.Popen[bytes]) -> None:
    fake.main_pid = sleeper.pid
    greeted.limit_memory(0.01)
    pending = greeted.send_request("candles", {})
    with pytest.raises(ResourceLimitExceeded) as info:
        greeted.wait_response(pending, timeout=5.0)
    err = info.value
    assert err.message.startswith("plugin 'fake' used ") and err.limit_mb == 0.01
    assert err.message.endswith("MB of memory, over its limit of 0.01 MB; its process tree was killed")
    assert fake.kills >= 1


def test_a_memory_error_under_the_limit_is_a_resource_limit(fake: FakeProcess, greeted: Session) -> None:
    greeted.limit_memory(4096)  # main_pid -1: no readings, only the error's type tells
    pending = greeted.send_request("candles", {})
    fake.plugin.answer(pending.msgid, error={"type": "MemoryError", "message": "", "hook": "on_candle"})
    with pytest.raises(ResourceLimitExceeded) as info:
        greeted.wait_response(pending, timeout=2.0)
    assert info.value.message == ("plugin 'fake' ran out of memory under its limit of 4096 MB in on_candle "
                                  "(MemoryError: ); its process tree was killed")
    assert fake.kills >= 1 and not greeted.alive
