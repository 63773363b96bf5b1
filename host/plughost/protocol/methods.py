"""The protocol's method names and the plugin hooks they reach, as enums (PROTOCOL.md sections 6 and 7).

String enums: a member equals its wire string, so messages decode to plain strings and compare with these.
tests/protocol/test_methods.py checks that every method has its section in PROTOCOL.md."""

from __future__ import annotations

from enum import StrEnum


class Method(StrEnum):
    """A message's `method` on the wire."""

    # host -> plugin (section 6)
    INITIALIZE = "initialize"
    CANDLES = "candles"
    TRADES = "trades"
    PRE_RUN = "pre_run"
    POST_RUN = "post_run"
    PING = "ping"
    SHUTDOWN = "shutdown"
    # plugin -> host (section 7)
    HELLO = "hello"
    HOOK_ERROR = "hook_error"
    LOAD_ERROR = "load_error"


class Hook(StrEnum):
    """A plugin method the SDKs call (Python names; hello lists them, error maps name them)."""

    INITIALIZE = "initialize"
    ON_CANDLE = "on_candle"
    ON_BATCH = "on_batch"
    ON_ALERT = "on_alert"
    ON_TRADE = "on_trade"
    ON_PRE_RUN = "on_pre_run"
    ON_POST_RUN = "on_post_run"


__all__ = ["Hook", "Method"]
