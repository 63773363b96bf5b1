"""Column names (case-insensitive, with aliases) and timestamps (any encoding -> int64 ms UTC).

A timestamp column may hold:

* an Arrow timestamp of any unit and zone (a naive one is read as UTC), or an Arrow date;
* ISO-8601 strings (UTC unless the string names an offset, e.g. `+01:00` or `Z`);
* integers counting since the epoch (also integer strings, as in a CSV). Their unit is read from the
  largest absolute value in the file: below 1e11 seconds, below 1e14 milliseconds, below 1e17
  microseconds, else nanoseconds. In the file's own unit those bounds are all the year 5138, and the
  smaller unit's reading of them is early 1973, so any data from 1973 to 5138 is read right; a caller
  passes `timestamp_unit` to force a unit (older data in ms, for instance).

Everything becomes int64 milliseconds since the epoch, UTC, floored (a pre-1970 sub-millisecond
instant lands in the millisecond containing it).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from plughost.errors import ConfigError, DataError

from .checks import BadValue, I64Array, first_null

TIMESTAMP_ALIASES = ("timestamp", "date", "datetime", "time", "open_time")
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")
# max |value| below the bound -> that unit; documented in docs/run-config.md ("Data").
UNIT_BOUNDS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
_MS_PER_DAY = 86_400_000
_INT_RE = re.compile(r"\s*[-+]?\d+\s*")


def _norm(name: str) -> str:
    return name.strip().lower()


def resolve_columns(names: Iterable[str], wanted: Mapping[str, tuple[str, ...]], *, file: str,
                    required: tuple[str, ...], hint: str) -> dict[str, str]:
    """Map each of our column names to the file's: case-insensitive, spaces around ignored, aliases
    accepted. Two file columns for one of ours is an error naming both; a missing required one too."""
    names = list(names)
    out: dict[str, str] = {}
    for ours, accepted in wanted.items():
        found = [n for n in names if _norm(n) in accepted]
        if len(found) > 1:
            listed = " and ".join(f"'{n}'" for n in found)
            raise DataError(
                f"columns {listed} could both be '{ours}'; keep one of them or rename the other",
                file=file, column=found[1],
                hint=f"'{ours}' is matched case-insensitively" + (
                    f" and also as {', '.join(a for a in accepted if a != ours)}" if len(accepted) > 1 else ""),
            )
        if found:
            out[ours] = found[0]
        elif ours in required:
            also = f" (or {', '.join(a for a in accepted if a != ours)})" if len(accepted) > 1 else ""
            raise DataError(
                f"missing required column '{ours}'{also} (columns found: {', '.join(names) or 'none'})",
                file=file, column=ours, hint=hint,
            )
    return out


def check_unit(unit: str | None) -> str | None:
    if unit is not None and unit not in TIMESTAMP_UNITS:
        raise ConfigError(f"timestamp_unit must be one of {', '.join(TIMESTAMP_UNITS)}, got {unit!r}",
                          hint="leave it out to read the unit from the values' magnitude")
    return unit


def unit_from_magnitude(max_abs: int) -> str:
    for bound, unit in UNIT_BOUNDS:
        if max_abs < bound:
            return unit
    return "ns"


def timestamp_type_ok(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)
                or is_string_type(t))


def is_string_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return is_string_type(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view())


def _first_non_null(batches: Iterator[pa.RecordBatch]) -> object:
    for batch in batches:
        col = batch.column(0).drop_null()
        if len(col):
            return col[0].as_py()
    return None


@dataclass(frozen=True)
class TimestampCodec:
    """How one file's timestamp column becomes int64 ms: the encoding found, and for integers the unit.

    `label` is what a run records: "s", "ms", "us", "ns" (integers), "iso8601", "arrow[us, UTC]",
    "arrow[ns]" (a naive Arrow timestamp, read as UTC) or "arrow[date32]".
    """

    kind: str  # "int" | "int_string" | "iso" | "arrow" | "date"
    unit: str  # s/ms/us/ns for ints and Arrow timestamps, "" otherwise
    label: str
    column: str  # the file's column name, for messages

    def to_ms(self, arr: pa.Array) -> I64Array:
        """Convert one batch's column; `BadValue` (batch-local index) for a null or unreadable value."""
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.null_count:
            raise BadValue(first_null(arr), self.column, "missing timestamp")
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        t = arr.type
        if self.kind == "arrow":
            raw = arr.cast(pa.int64()).to_numpy()
            out = _scale(raw, t.unit, self.column)
        elif self.kind == "date":
            if pa.types.is_date32(t):
                out = arr.cast(pa.int32()).to_numpy().astype(np.int64) * _MS_PER_DAY
            else:
                out = arr.cast(pa.int64()).to_numpy()
        elif self.kind in ("int", "int_string"):
            out = _scale(_ints(arr, self.column), self.unit, self.column)
        else:
            out = _iso_ms(arr, self.column)
        return np.ascontiguousarray(out, dtype=np.int64)


def _ints(arr: pa.Array, column: str) -> I64Array:
    if arr.type == pa.int64():  # a cast to its own type is a copy; Array.cast would import pyarrow.compute
        return arr.to_numpy()  # type: ignore[no-any-return]
    import pyarrow.compute as pc  # here, not at the top: pyarrow.compute costs ~50 ms of start-up

    if pa.types.is_integer(arr.type):
        try:
            return arr.cast(pa.int64()).to_numpy()  # type: ignore[no-any-return]
        except pa.ArrowInvalid:
            raise BadValue(0, column, "timestamp does not fit in a 64-bit integer") from None
    try:
        return pc.cast(pc.utf8_trim_whitespace(arr), pa.int64()).to_numpy()  # type: ignore[no-any-return]
    except pa.ArrowInvalid:
        for i, v in enumerate(arr.to_pylist()):
            if not _INT_RE.fullmatch(v):
                raise BadValue(i, column, f"wrong type: timestamp {v!r} is not an integer like the rows "
                                          f"before it (use one form per file)") from None
        raise BadValue(0, column, "timestamp does not fit in a 64-bit integer") from None


def _scale(raw: I64Array, unit: str, column: str) -> I64Array:
    if unit == "ms":
        return raw
    if unit == "s":
        # 9.2e15 s is far beyond any date; refuse rather than wrap around.
        big = np.abs(raw) > (np.iinfo(np.int64).max // 1000)
        if big.any():
            i = int(np.argmax(big))
            raise BadValue(i, column, f"timestamp {int(raw[i])} in seconds is out of range")
        return raw * 1000
    # Floor, not truncate, so a pre-1970 sub-ms instant lands in the millisecond containing it.
    return raw // (1000 if unit == "us" else 1_000_000)


def _iso_ms(arr: pa.Array, column: str) -> I64Array:
    import pyarrow.compute as pc  # here, not at the top: pyarrow.compute costs ~50 ms of start-up

    for target in (pa.timestamp("ns", "UTC"), pa.timestamp("ns")):
        try:
            return pc.cast(arr, target).cast(pa.int64()).to_numpy() // 1_000_000  # type: ignore[no-any-return]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    # Mixed zones, or dates outside 1677-2262 (the ns range): parse value by value.
    out = np.empty(len(arr), dtype=np.int64)
    for i, v in enumerate(arr.to_pylist()):
        try:
            out[i] = iso_to_ms(v)
        except ValueError:
            raise BadValue(i, column, f"wrong type: cannot parse timestamp {v!r} (expected ISO-8601 such as "
                                      f"2024-01-31T09:30:00Z, or an integer count since the epoch)") from None
    return out


def iso_to_ms(text: str) -> int:
    when = _dt.datetime.fromisoformat(text.strip())
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    delta = when - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _arrow_label(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return f"arrow[{t.unit}, {t.tz}]" if t.tz else f"arrow[{t.unit}]"
    return f"arrow[{t}]"


def timestamp_codec(t: pa.DataType, column: str, batches: Callable[[], Iterator[pa.RecordBatch]], *,
                    forced_unit: str | None, file: str, known_range: tuple[int, int] | None = None) -> TimestampCodec:
    """Decide how to read the column. `batches()` (the column alone) is read only for integers (the
    largest magnitude picks the unit; `known_range`, from file statistics, spares that read) and
    strings (the first value says integer or ISO-8601)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_timestamp(t):
        return TimestampCodec("arrow", t.unit, _arrow_label(t), column)
    if pa.types.is_date(t):
        return TimestampCodec("date", "", _arrow_label(t), column)
    if is_string_type(t):
        first = _first_non_null(batches())
        if first is None or not _INT_RE.fullmatch(str(first)):
            return TimestampCodec("iso", "", "iso8601", column)
        kind = "int_string"
    else:
        kind = "int"
    if forced_unit is not None:
        return TimestampCodec(kind, forced_unit, forced_unit, column)
    if kind == "int" and known_range is not None:
        unit = unit_from_magnitude(max(abs(known_range[0]), abs(known_range[1])))
        return TimestampCodec(kind, unit, unit, column)
    import pyarrow.compute as pc  # here, not at the top: pyarrow.compute costs ~50 ms of start-up

    max_abs = 0
    base = 0
    for batch in batches():
        arr = batch.column(0)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if kind == "int_string":
            try:
                arr = pc.cast(pc.utf8_trim_whitespace(arr), pa.int64())
            except pa.ArrowInvalid:
                for i, v in enumerate(arr.to_pylist()):
                    if v is not None and not _INT_RE.fullmatch(v):
                        raise DataError(f"wrong type: timestamp {v!r} is not an integer like the rows before "
                                        f"it (use one form per file)", file=file, row=base + i + 1,
                                        column=column) from None
                raise DataError("timestamp does not fit in a 64-bit integer", file=file, column=column) from None
        mm = pc.min_max(arr).as_py()
        if mm["min"] is not None:
            max_abs = max(max_abs, abs(int(mm["min"])), abs(int(mm["max"])))
        base += batch.num_rows
    unit = unit_from_magnitude(max_abs)
    return TimestampCodec(kind, unit, unit, column)
