"""One loader for every JSON / TOML / JSON Lines file the host reads, one JSON encoder for every JSON it
writes, and the one way a file or a folder is replaced whole.

    data = load_structured(path, kind="config")      # raises FileLimitError (a ValueError) or OSError
    text = dumps(value, indent=2)                    # NaN and infinities become null
    atomic_write(path, text)                         # readers see the old file or the new one, never a part
    replace_dir(tmp_folder, final_folder)            # the same for a folder built under a hidden name

Users and plugin authors hand the host these files; a file built to hurt it (2,000 levels of nesting, a
gigabyte of JSON, an integer of 2^64 that no wire format can carry) must fail as that file's own error
(MANIFEST_INVALID, CONFIG_INVALID, DATA_INVALID, ...), never as a RecursionError or MemoryError in
whatever reads it next. The limits are checked here once; callers turn `FileLimitError` into their code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_DEPTH = 64                    # objects/arrays inside each other; real configs use < 10
MAX_BYTES = 16 * 1024 * 1024      # manifests, configs, schemas, batch files, state
MAX_DATA_BYTES = 1024 * 1024 * 1024  # alert files may be large; they are still read in full
INT_LIMIT = 1 << 63               # |int| < 2^63: what msgpack, Arrow int64 and SQLite carry


class FileLimitError(ValueError):
    """The file is not valid, or goes over a limit. `str()` says which, for the caller's own error."""


def check_value(value: Any, *, max_depth: int = MAX_DEPTH, where: str = "") -> None:
    """Depth and integer range of an already parsed value (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, bool):
            continue
        if isinstance(node, int):
            if not -INT_LIMIT < node < INT_LIMIT:
                text = str(node) if node.bit_length() < 200 else f"an integer of {node.bit_length()} bits"
                raise FileLimitError(f"{where}integer {text} is out of range (|n| must be below 2^63)")
            continue
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > max_depth:
            raise FileLimitError(f"{where}nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def _json_depth_ok(text: str, max_depth: int) -> bool:
    """Cheap pre-check before parsing: the bracket depth ignoring strings never exceeds `max_depth`."""
    if text.count("[") + text.count("{") <= max_depth:
        return True
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads_json(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text within the limits (NaN/Infinity literals are read as Python reads them)."""
    if not _json_depth_ok(text, max_depth):
        raise FileLimitError(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileLimitError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise FileLimitError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise FileLimitError(f"not valid JSON: {exc}") from None
    check_value(value, max_depth=max_depth)
    return value


def loads_toml(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileLimitError(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise FileLimitError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise FileLimitError(f"not valid TOML: {exc}") from None
    check_value(value, max_depth=max_depth)
    return value


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's text, refusing one over `max_bytes` before reading it. OSError when unreadable."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileLimitError(f"larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileLimitError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def load_structured(path: Path, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """A `.toml` file as TOML, anything else as JSON. Raises FileLimitError or OSError."""
    text = read_text(path, max_bytes=max_bytes)
    if path.suffix.lower() == ".toml":
        return loads_toml(text, max_depth=max_depth)
    return loads_json(text, max_depth=max_depth)


# ------------------------------------------------------------------------------------------ writing


def json_safe(value: Any) -> Any:
    """NaN/Inf are not JSON: null, as readers of summary.json expect. numpy scalars become Python ones."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    item = getattr(value, "item", None)  # numpy scalars, without importing numpy here
    if callable(item) and type(value).__module__ == "numpy":
        return json_safe(item())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """The one JSON encoder: summary.json, the journal, every --json output. Never writes NaN."""
    kwargs.setdefault("default", str)
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def atomic_write(path: Path, data: str | bytes, *, durable: bool = True, mode: int = 0o666) -> Path:
    """Write `path` whole or not at all: a hidden temporary file beside it (same filesystem), then one
    rename over `path`. `durable` syncs the data to disk before the rename, so a crash leaves the old file or
    the new one, never an empty one (state that must survive a power cut); without it a crash can lose the
    new content but a reader still never sees a part. `mode` is filtered by the umask, as open() does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def replace_dir(tmp: Path, final: Path) -> Path:
    """Put the folder `tmp` (complete) at `final` with one rename. A folder already at `final` is renamed
    aside first (`.old-<name>-<pid>`, removed after), so a reader of `final` sees the old folder or the new."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
