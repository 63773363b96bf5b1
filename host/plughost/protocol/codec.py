"""msgpack-RPC messages (PROTOCOL.md sections 3 and 4): encode, decode and shape-check."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import msgpack

from .framing import ProtocolViolation, encode_frame, short_repr

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2


class Request(NamedTuple):
    msgid: int
    method: str
    params: Any


class Response(NamedTuple):
    msgid: int
    error: dict[str, Any] | None
    result: Any


class Notification(NamedTuple):
    method: str
    params: Any


Message = Request | Response | Notification

_packer = msgpack.Packer(use_bin_type=True, datetime=False)


def pack(value: Any) -> bytes:
    return cast(bytes, _packer.pack(value))


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not used by protocol v1")


def unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True, ext_hook=_refuse_ext)
    except Exception as exc:  # msgpack signals bad input with several unrelated exception types
        raise ProtocolViolation("invalid msgpack", f"{type(exc).__name__}: {exc}") from exc


def request_frame(msgid: int, method: str, params: Any) -> bytes:
    return encode_frame(_packer.pack([REQUEST, msgid, method, params]))


def notification_frame(method: str, params: Any) -> bytes:
    return encode_frame(_packer.pack([NOTIFICATION, method, params]))


def _is_uint32(value: Any) -> bool:
    return type(value) is int and 0 <= value <= 0xFFFFFFFF


def to_message(raw: Any) -> Message:
    """Check a decoded value is one of the three message shapes."""
    if type(raw) is list and raw:
        kind = raw[0]
        if kind == RESPONSE and len(raw) == 4 and _is_uint32(raw[1]):
            error = raw[2]
            if error is None or isinstance(error, dict):
                return Response(raw[1], error, raw[3])
        elif kind == NOTIFICATION and len(raw) == 3 and isinstance(raw[1], str):
            return Notification(raw[1], raw[2])
        elif kind == REQUEST and len(raw) == 4 and _is_uint32(raw[1]) and isinstance(raw[2], str):
            return Request(raw[1], raw[2], raw[3])
    raise ProtocolViolation("invalid message",
                            f"not a msgpack-RPC request/response/notification: {short_repr(raw, 200)}")


def decode_message(body: bytes) -> Message:
    return to_message(unpack(body))
