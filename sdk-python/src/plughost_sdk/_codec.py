"""msgpack with the protocol's encoding rules (PROTOCOL.md section 3)."""

from __future__ import annotations

from typing import Any, cast

import msgpack

from ._framing import FrameError

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2

_packer = msgpack.Packer(use_bin_type=True, datetime=False)


def encode(message: Any) -> bytes:
    return cast(bytes, _packer.pack(message))


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not used by protocol v1")


def decode(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True, ext_hook=_refuse_ext)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise FrameError(f"invalid msgpack: {type(exc).__name__}: {exc}") from exc


def error_map(type_name: str, message: str, traceback: str, hook: str | None, at: int | None) -> dict[str, Any]:
    def clean(text: str) -> str:
        # Lone surrogates (e.g. from os.fsdecode) cannot be encoded as UTF-8; replace rather than crash.
        return text.encode("utf-8", "replace").decode("utf-8")

    return {"type": clean(type_name), "message": clean(message), "traceback": clean(traceback), "hook": hook,
            "at": at}


def check_message(raw: Any) -> list[Any]:
    """A decoded value must be a msgpack-RPC request, response or notification (PROTOCOL.md section 4)."""
    if isinstance(raw, list) and raw:
        kind = raw[0]
        if kind in (REQUEST, RESPONSE) and len(raw) == 4 and type(raw[1]) is int and (
            kind == RESPONSE or isinstance(raw[2], str)
        ):
            return raw
        if kind == NOTIFICATION and len(raw) == 3 and isinstance(raw[1], str):
            return raw
    raise FrameError(f"invalid message: not a msgpack-RPC request/response/notification: {raw!r:.200}")
