"""Candle and alert files: open, validate, stream.

Candles (Parquet, Arrow IPC file or stream, CSV) are read through pyarrow scanners, so a 10M-row file
streams in bounded memory. `open_candles` does the cheap checks up front:

* the file is readable and its format recognised (by magic bytes, then by suffix);
* the required columns exist and have usable types;
* one projected pre-scan of `timestamp` (+ `symbol`) finds the symbol set and row counts, null
  timestamps/symbols, duplicate timestamps of sorted symbols, and which symbols are unsorted.
  For CSV (not columnar, so reading the other columns costs little more) the pre-scan converts and
  validates the price columns too, so a CSV's bad value is refused before the run starts.

The per-value checks of Parquet/IPC prices (null, NaN, inf, negative, `high < low`) run while a symbol
is streamed by `iter_chunks`, so a bad row there raises `DataError` mid-stream; pass
`open_candles(path, validate=True)` (or call `CandleSource.validate()`) to run them all up front at
the cost of one extra read of the file.

Unsorted symbols are the one case that is loaded whole: the symbol's rows are read into memory,
stable-sorted by timestamp, checked for duplicates, then served in chunks. Sorted symbols (the common
case) stream.

Rows in errors are 1-based data rows of the original file (row 1 is the first candle; in a CSV with a
header that is line 2; in JSON Lines alerts it is the line number).
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from plughost.errors import DataError
from plughost.safefile import INT_LIMIT, MAX_DATA_BYTES, MAX_DEPTH, FileLimitError, check_value, loads_json, read_text

__all__ = ["AlertRecord", "CandleChunk", "CandleSource", "load_alerts", "open_candles"]

PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
CANDLE_COLUMNS = ("timestamp", *VALUE_COLUMNS)

_SCAN_BATCH = 65536
# Readahead is what would make RSS grow with file size; a couple of batches keeps the decoder busy.
_READAHEAD = dict(batch_readahead=2, fragment_readahead=1)
_MS_PER_DAY = 86_400_000
_TS_DIVISOR = {"s": -1000, "ms": 1, "us": 1000, "ns": 1_000_000}  # negative: multiply
_CSV_ROW_RE = re.compile(r"CSV column #(\d+): Row #(\d+)")

F64Array = np.ndarray[Any, np.dtype[np.float64]]
I64Array = np.ndarray[Any, np.dtype[np.int64]]


# --------------------------------------------------------------------------------------------- chunks
@dataclass(frozen=True)
class CandleChunk:
    """One contiguous slice of one symbol's stream, validated and sorted by timestamp."""

    symbol: str
    offset: int
    timestamp: I64Array
    open: F64Array
    high: F64Array
    low: F64Array
    close: F64Array
    volume: F64Array

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])


class _BadValue(Exception):
    """A bad value at a stream-local index; the caller maps the index to a file row."""

    def __init__(self, index: int, column: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.column = column
        self.message = message


# ------------------------------------------------------------------------------------------- readers
def _detect_format(path: Path, kinds: tuple[str, ...]) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc}", file=str(path)) from None
    suffix = path.suffix.lower()
    if head.startswith(b"PAR1"):
        kind = "parquet"
    elif head.startswith(b"ARROW1"):
        kind = "ipc_file"
    elif head.startswith(b"\xff\xff\xff\xff") and suffix in (".arrow", ".arrows", ".feather", ".ipc"):
        kind = "ipc_stream"
    elif suffix in (".csv", ".txt"):
        kind = "csv"
    elif suffix in (".json",):
        kind = "json"
    elif suffix in (".jsonl", ".ndjson"):
        kind = "jsonl"
    elif suffix in (".parquet", ".pq", ".arrow", ".feather", ".ipc"):
        raise DataError(f"not a valid {suffix} file (bad magic bytes)", file=str(path))
    else:
        kind = "unknown"
    if kind not in kinds:
        names = {"parquet": "Parquet", "ipc_file": "Arrow IPC", "ipc_stream": "Arrow IPC", "csv": "CSV",
                 "json": "JSON", "jsonl": "JSON Lines"}
        wanted = ", ".join(dict.fromkeys(names[k] for k in kinds))
        raise DataError(
            f"unsupported file format '{suffix or '(no suffix)'}'",
            file=str(path),
            hint=f"use one of: {wanted}",
        )
    return kind


def _csv_format() -> ds.CsvFileFormat:
    # Prices are forced to float64 so an integer-looking first block cannot make a later "1.5" an
    # error; symbol/id are forced to string so "0001" keeps its zeros.
    types = {c: pa.float64() for c in VALUE_COLUMNS}
    types.update({"symbol": pa.string(), "id": pa.string()})
    return ds.CsvFileFormat(convert_options=pcsv.ConvertOptions(column_types=types))


class _Reader:
    """One file, scanned as often as needed with a projection and an optional symbol filter."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._dataset: ds.Dataset | None = None
        try:
            if kind == "ipc_stream":
                with pa.OSFile(str(path)) as fh:
                    self.schema: pa.Schema = pa.ipc.open_stream(fh).schema
            elif kind == "parquet":
                self.schema = pq.read_schema(str(path))
            else:
                fmt: Any = "ipc" if kind == "ipc_file" else _csv_format()
                self._dataset = ds.dataset(str(path), format=fmt)
                self.schema = self._dataset.schema
        except (pa.ArrowException, OSError, ValueError) as exc:
            # CSV dataset creation already converts the first block, so a bad value there lands here.
            raise self._translate(exc) from None

    def batches(
        self, columns: list[str], symbol: str | None = None, batch_size: int = _SCAN_BATCH
    ) -> Iterator[pa.RecordBatch]:
        read = columns if symbol is None or "symbol" in columns else [*columns, "symbol"]
        try:
            for batch in self._raw_batches(read, batch_size):
                if symbol is not None:
                    # Filtering here rather than in the scanner keeps one code path for every format.
                    batch = batch.filter(pc.equal(batch.column("symbol"), symbol))
                    if read is not columns:
                        batch = batch.select(columns)
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise self._translate(exc) from None

    def _raw_batches(self, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            # ParquetFile's batch reader with a small read buffer and no pre-buffering decodes
            # batch_size rows at a time; the dataset scanner decodes (and reads ahead) whole row groups,
            # which made RSS grow with the file (~350 MB vs ~135 MB peak at 10M rows).
            pf = pq.ParquetFile(str(self.path), pre_buffer=False, buffer_size=1 << 20)
            try:
                yield from pf.iter_batches(batch_size=batch_size, columns=columns)
            finally:
                pf.close()
        elif self._dataset is not None:
            yield from self._dataset.to_batches(columns=columns, batch_size=batch_size, **_READAHEAD)
        else:
            with pa.OSFile(str(self.path)) as fh:
                scanner = ds.Scanner.from_batches(
                    pa.ipc.open_stream(fh), columns=columns, batch_size=batch_size, **_READAHEAD
                )
                yield from scanner.to_batches()

    def _csv_header(self) -> list[str]:
        try:
            with self.path.open(encoding="utf-8", newline="") as fh:
                return next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            return []

    def _translate(self, exc: Exception) -> DataError:
        text = str(exc)
        m = _CSV_ROW_RE.search(text)
        if self.kind == "csv" and m:
            col_index, line = int(m.group(1)), int(m.group(2))
            names = self.schema.names if hasattr(self, "schema") else self._csv_header()
            column = names[col_index] if col_index < len(names) else None
            detail = text.split(": ", 2)[-1]
            return DataError(f"wrong type: {detail}", file=str(self.path), row=line - 1, column=column)
        return DataError(f"cannot read file: {text}", file=str(self.path))


# ---------------------------------------------------------------------------------------- conversion
def _is_string_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_string_type(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view())


def _timestamp_type_ok(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t))


def _number_type_ok(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _first_null(arr: pa.Array) -> int:
    return int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])


def _timestamps_ms(arr: pa.Array, column: str = "timestamp") -> I64Array:
    """Arrow timestamps of any unit/tz (stored as UTC), dates or integer ms -> int64 ms UTC."""
    if arr.null_count:
        raise _BadValue(_first_null(arr), column, "missing timestamp")
    t = arr.type
    if pa.types.is_timestamp(t):
        raw = arr.cast(pa.int64()).to_numpy()
        div = _TS_DIVISOR[t.unit]
        # Floor, not truncate, so a pre-1970 sub-ms instant lands in the millisecond containing it.
        out = raw * -div if div < 0 else (raw if div == 1 else raw // div)
    elif pa.types.is_date32(t):
        out = arr.cast(pa.int32()).to_numpy().astype(np.int64) * _MS_PER_DAY
    elif pa.types.is_date64(t):
        out = arr.cast(pa.int64()).to_numpy()
    elif pa.types.is_integer(t):
        try:
            out = arr.cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:
            raise _BadValue(0, column, "timestamp does not fit in int64 milliseconds") from None
    else:  # pragma: no cover - the schema check refuses other types first
        raise _BadValue(0, column, f"wrong type {t}")
    return np.ascontiguousarray(out, dtype=np.int64)


def _values_f64(arr: pa.Array, column: str) -> F64Array:
    if arr.null_count:
        raise _BadValue(_first_null(arr), column, f"missing value in '{column}'")
    if arr.type != pa.float64():
        arr = pc.cast(arr, pa.float64(), safe=False)
    return arr.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def _check_values(cols: Mapping[str, np.ndarray]) -> None:
    """Raise `_BadValue` for the earliest bad row (ties: column order) among the given columns."""
    best: tuple[int, int, str, str] | None = None
    order = 0
    for name in VALUE_COLUMNS:
        if name not in cols:
            continue
        x = cols[name]
        bad = ~np.isfinite(x) | (x < 0)
        if bad.any():
            i = int(np.argmax(bad))
            v = float(x[i])
            what = "NaN" if math.isnan(v) else ("infinite" if math.isinf(v) else f"negative ({v!r})")
            kind = "price" if name != "volume" else "volume"
            cand = (i, order, name, f"{kind} '{name}' is {what}")
            if best is None or cand[:2] < best[:2]:
                best = cand
        order += 1
    if "high" in cols and "low" in cols:
        h, lo = cols["high"], cols["low"]
        bad = h < lo
        if bad.any():
            i = int(np.argmax(bad))
            cand = (i, order, "high", f"high ({float(h[i])!r}) is below low ({float(lo[i])!r})")
            if best is None or cand[:2] < best[:2]:
                best = cand
    if best is not None:
        raise _BadValue(best[0], best[2], best[3])


def _fmt_ts(ms: int) -> str:
    try:
        when = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return f"{ms} ({when.isoformat(timespec='milliseconds').replace('+00:00', 'Z')})"


# --------------------------------------------------------------------------------------------- source
@dataclass
class _SymbolInfo:
    count: int = 0
    sorted: bool = True
    last_ts: int = 0
    last_row: int = 0


@dataclass
class _Pieces:
    """Re-chunks arbitrarily sized column pieces into chunks of exactly `rows` (the last may be short)."""

    symbol: str
    rows: int
    emitted: int = 0
    pieces: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    buffered: int = 0

    def push(self, cols: tuple[np.ndarray, ...]) -> Iterator[CandleChunk]:
        if len(cols[0]):
            self.pieces.append(cols)
            self.buffered += len(cols[0])
        while self.buffered >= self.rows:
            yield self._take(self.rows)

    def flush(self) -> Iterator[CandleChunk]:
        if self.buffered:
            yield self._take(self.buffered)

    def _take(self, n: int) -> CandleChunk:
        first = self.pieces[0]
        if len(first[0]) >= n:
            # Slicing a contiguous 1-D array stays contiguous: no copy on the common path.
            out = tuple(a[:n] for a in first)
            rest = tuple(a[n:] for a in first)
            if len(rest[0]):
                self.pieces[0] = rest
            else:
                self.pieces.pop(0)
        else:
            parts: list[tuple[np.ndarray, ...]] = []
            need = n
            while need:
                p = self.pieces[0]
                if len(p[0]) <= need:
                    parts.append(p)
                    need -= len(p[0])
                    self.pieces.pop(0)
                else:
                    parts.append(tuple(a[:need] for a in p))
                    self.pieces[0] = tuple(a[need:] for a in p)
                    need = 0
            out = tuple(np.concatenate([p[k] for p in parts]) for k in range(len(first)))
        self.buffered -= n
        chunk = CandleChunk(self.symbol, self.emitted, *out)
        self.emitted += n
        return chunk


class CandleSource:
    """A candle file opened and pre-scanned by `open_candles`. Each symbol is its own stream."""

    def __init__(self, path: Path, *, validate: bool = False) -> None:
        self.path = path
        self._file = str(path)
        kind = _detect_format(path, ("parquet", "ipc_file", "ipc_stream", "csv"))
        self._reader = _Reader(path, kind)
        self._check_schema()
        self._values_checked = kind == "csv"
        self._info: dict[str, _SymbolInfo] = {}
        self._prescan()
        if validate:
            self.validate()

    # -- public ------------------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return sorted(self._info)

    def count(self, symbol: str) -> int:
        return self._get(symbol).count

    def is_sorted(self, symbol: str) -> bool:
        """False when the file holds this symbol out of time order (it is then loaded whole to sort)."""
        return self._get(symbol).sorted

    def iter_chunks(self, symbol: str, rows: int = 65536) -> Iterator[CandleChunk]:
        """Yield the symbol's candles in time order, `rows` at a time (the last chunk may be shorter).

        Raises `DataError` (file, row, column) on the first bad value, possibly after some chunks.
        """
        if rows < 1:
            raise ValueError("rows must be >= 1")
        info = self._get(symbol)
        if info.sorted:
            return self._stream(symbol, rows)
        return self._sorted_in_memory(symbol, rows)

    def validate(self) -> None:
        """Run every check over every symbol now (one extra read of the file)."""
        if self._values_checked:
            return
        for symbol in self.symbols():
            for _ in self.iter_chunks(symbol, rows=1 << 20):
                pass
        self._values_checked = True

    # -- schema and pre-scan ---------------------------------------------------------------------------
    def _get(self, symbol: str) -> _SymbolInfo:
        try:
            return self._info[symbol]
        except KeyError:
            raise KeyError(f"{self._file}: no symbol {symbol!r}; symbols are {self.symbols()}") from None

    def _check_schema(self) -> None:
        schema = self._reader.schema
        names = schema.names
        for col in CANDLE_COLUMNS:
            if col not in names:
                raise DataError(
                    f"missing required column '{col}' (columns found: {', '.join(names) or 'none'})",
                    file=self._file,
                    column=col,
                    hint="candle files need timestamp, open, high, low, close, volume (and optionally symbol)",
                )
        self._has_symbol = "symbol" in names
        checks: list[tuple[str, Any, str]] = [("timestamp", _timestamp_type_ok, "int64 ms or an Arrow timestamp")]
        checks += [(c, _number_type_ok, "a number") for c in VALUE_COLUMNS]
        if self._has_symbol:
            checks.append(("symbol", _is_string_type, "a string"))
        for col, ok, expected in checks:
            t = schema.field(col).type
            if not ok(t):
                row, sample = self._first_wrong_value(col, expected)
                found = f"; first offending value {sample!r}" if sample is not None else ""
                raise DataError(
                    f"wrong type: column '{col}' is {t}, expected {expected}{found}",
                    file=self._file,
                    row=row,
                    column=col,
                )

    def _first_wrong_value(self, col: str, expected: str) -> tuple[int | None, Any]:
        """Find the first value that is not of the expected kind, to name its row."""
        want_int = col == "timestamp"
        base = 0
        try:
            for batch in self._reader.batches([col]):
                for i, v in enumerate(batch.column(0).to_pylist()):
                    if v is None:
                        continue
                    try:
                        if isinstance(v, bool) or not isinstance(v, str | int | float):
                            return base + i + 1, v
                        int(v) if want_int else float(v)
                        if col == "symbol":
                            return base + i + 1, v
                    except (TypeError, ValueError):
                        return base + i + 1, v
                base += batch.num_rows
        except DataError:
            return None, None
        return (1, None) if base else (None, None)

    def _prescan(self) -> None:
        cols = ["timestamp"] + (["symbol"] if self._has_symbol else [])
        if self._values_checked:  # CSV: converting prices now costs little and refuses bad files early
            cols += list(VALUE_COLUMNS)
        ids: dict[str, int] = {}
        names: list[str] = []
        counts = np.zeros(0, dtype=np.int64)
        last_ts = np.zeros(0, dtype=np.int64)
        last_row = np.zeros(0, dtype=np.int64)  # 1-based; 0 = not seen yet
        unsorted = np.zeros(0, dtype=bool)
        base = 0
        for batch in self._reader.batches(cols):
            n = batch.num_rows
            if n == 0:
                continue
            try:
                ts = _timestamps_ms(batch.column(0))
                if self._values_checked:
                    _check_values({c: _values_f64(batch.column(c), c) for c in VALUE_COLUMNS})
            except _BadValue as bad:
                raise DataError(bad.message, file=self._file, row=base + bad.index + 1, column=bad.column) from None
            if self._has_symbol:
                sym = batch.column(1)
                if sym.null_count:
                    raise DataError("missing symbol", file=self._file, row=base + _first_null(sym) + 1,
                                    column="symbol")
                enc = sym if pa.types.is_dictionary(sym.type) else pc.dictionary_encode(sym)
                local_names = enc.dictionary.to_pylist()
                gid = np.array([ids.setdefault(s, len(ids)) for s in local_names], dtype=np.int64)
                codes = gid[enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
            else:
                ids.setdefault(self.path.stem, 0)
                codes = np.zeros(n, dtype=np.int64)
            if len(ids) > len(names):
                grow = len(ids) - len(names)
                names = list(ids)
                counts = np.concatenate([counts, np.zeros(grow, np.int64)])
                last_ts = np.concatenate([last_ts, np.zeros(grow, np.int64)])
                last_row = np.concatenate([last_row, np.zeros(grow, np.int64)])
                unsorted = np.concatenate([unsorted, np.zeros(grow, bool)])
            if len(names) == 1:
                order = np.arange(n)
                c = codes
            else:
                order = np.argsort(codes, kind="stable")
                c = codes[order]
            t = ts[order]
            rows = base + order + 1
            # Previous occurrence (in file order) of the same symbol, from this batch or an earlier one.
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            prev_t = np.empty_like(t)
            prev_t[1:] = t[:-1]
            prev_row = np.empty_like(rows)
            prev_row[1:] = rows[:-1]
            prev_t[starts] = last_ts[c[starts]]
            prev_row[starts] = last_row[c[starts]]
            seen = prev_row > 0
            dup = seen & (t == prev_t)
            if dup.any():
                j = int(np.argmax(dup))
                raise DataError(
                    f"duplicate timestamp {_fmt_ts(int(t[j]))} for symbol '{names[c[j]]}' "
                    f"(also at row {int(prev_row[j])})",
                    file=self._file, row=int(rows[j]), column="timestamp",
                )
            back = seen & (t < prev_t)
            if back.any():
                unsorted[np.unique(c[back])] = True
            ends = np.r_[starts[1:] - 1, len(c) - 1]
            last_ts[c[ends]] = t[ends]
            last_row[c[ends]] = rows[ends]
            counts += np.bincount(codes, minlength=len(names))
            base += n
        if base == 0:
            raise DataError("the file holds no candles", file=self._file)
        for k, name in enumerate(names):
            self._info[name] = _SymbolInfo(count=int(counts[k]), sorted=not bool(unsorted[k]))
        self._single = len(names) == 1

    # -- streaming -----------------------------------------------------------------------------------
    def _symbol_batches(self, symbol: str) -> Iterator[pa.RecordBatch]:
        return self._reader.batches(list(CANDLE_COLUMNS), symbol=None if self._single else symbol)

    def _convert(self, batch: pa.RecordBatch) -> tuple[np.ndarray, ...]:
        ts = _timestamps_ms(batch.column(0))
        vals = {c: _values_f64(batch.column(i + 1), c) for i, c in enumerate(VALUE_COLUMNS)}
        if not self._values_checked:
            _check_values(vals)
        return (ts, *(vals[c] for c in VALUE_COLUMNS))

    def _file_row(self, symbol: str, index: int) -> int:
        """1-based file row of the symbol's `index`-th row in file order (an error path only: rescans)."""
        if self._single:
            return index + 1
        base = 0
        left = index
        for batch in self._reader.batches(["symbol"]):
            hits = np.flatnonzero(pc.equal(batch.column(0), symbol).to_numpy(zero_copy_only=False))
            if left < len(hits):
                return base + int(hits[left]) + 1
            left -= len(hits)
            base += batch.num_rows
        raise AssertionError("row index beyond the symbol's rows")  # pragma: no cover

    def _raise_bad(self, symbol: str, bad: _BadValue) -> DataError:
        return DataError(bad.message, file=self._file, row=self._file_row(symbol, bad.index), column=bad.column)

    def _stream(self, symbol: str, rows: int) -> Iterator[CandleChunk]:
        pieces = _Pieces(symbol, rows)
        seen = 0
        for batch in self._symbol_batches(symbol):
            try:
                cols = self._convert(batch)
            except _BadValue as bad:
                bad.index += seen
                raise self._raise_bad(symbol, bad) from None
            seen += batch.num_rows
            yield from pieces.push(cols)
        yield from pieces.flush()

    def _sorted_in_memory(self, symbol: str, rows: int) -> Iterator[CandleChunk]:
        parts: list[tuple[np.ndarray, ...]] = []
        seen = 0
        for batch in self._symbol_batches(symbol):
            try:
                parts.append(self._convert(batch))
            except _BadValue as bad:
                bad.index += seen
                raise self._raise_bad(symbol, bad) from None
            seen += batch.num_rows
        cols = [np.concatenate([p[k] for p in parts]) for k in range(len(CANDLE_COLUMNS))]
        del parts
        order = np.argsort(cols[0], kind="stable")
        ts = cols[0][order]
        dup = np.flatnonzero(ts[1:] == ts[:-1])
        if len(dup):
            j = int(dup[0]) + 1
            # Stable sort keeps file order among equal timestamps, so order[j] is the later occurrence.
            first, later = sorted((int(order[j - 1]), int(order[j])))
            raise DataError(
                f"duplicate timestamp {_fmt_ts(int(ts[j]))} for symbol '{symbol}' "
                f"(also at row {self._file_row(symbol, first)})",
                file=self._file, row=self._file_row(symbol, later), column="timestamp",
            )
        sorted_cols = (ts, *(c[order] for c in cols[1:]))
        del cols
        for start in range(0, len(ts), rows):
            yield CandleChunk(symbol, start, *(c[start:start + rows] for c in sorted_cols))


def open_candles(path: str | Path, *, validate: bool = False) -> CandleSource:
    """Open a candle file. Raises `DataError` up front for an unreadable file, a missing column, a wrong
    column type, null/duplicate timestamps and (for CSV) any bad value; `validate=True` also checks
    every price of Parquet/IPC files now instead of while streaming."""
    return CandleSource(Path(path), validate=validate)


# --------------------------------------------------------------------------------------------- alerts
@dataclass(frozen=True)
class AlertRecord:
    id: str
    timestamp: int
    symbol: str
    price: float | None
    data: dict[str, Any]


_ALERT_REQUIRED = ("id", "timestamp", "symbol")


def _json_safe(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal):
        return _json_safe(float(v))
    if isinstance(v, _dt.datetime | _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, _dt.timedelta):
        return v.total_seconds()
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return v.hex()
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.generic):
        return _json_safe(v.item())
    return str(v)


def _py_timestamp_ms(v: Any) -> int:
    """One alert timestamp: int ms, integral float, numeric string, ISO-8601 string or datetime."""
    if isinstance(v, bool) or v is None:
        raise ValueError("missing timestamp" if v is None else "a boolean is not a timestamp")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer():
            return int(v)
        raise ValueError(f"timestamp {v!r} is not whole milliseconds")
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        delta = v - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return int((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)
    if isinstance(v, _dt.date):
        return _py_timestamp_ms(_dt.datetime(v.year, v.month, v.day))
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"-?\d+", s):
            return int(s)
        try:
            return _py_timestamp_ms(_dt.datetime.fromisoformat(s))
        except ValueError:
            raise ValueError(f"cannot parse timestamp {v!r} (use int ms or ISO-8601)") from None
    raise ValueError(f"cannot use {type(v).__name__} {v!r} as a timestamp")


def _alert_price(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("a boolean is not a price")
    if isinstance(v, str):
        if not v.strip():
            return None
        try:
            v = float(v)
        except ValueError:
            raise ValueError(f"price {v!r} is not a number") from None
    if isinstance(v, int | float | decimal.Decimal):
        x = float(v)
        if math.isnan(x):
            return None
        if math.isinf(x) or x < 0:
            raise ValueError(f"price {x!r} must be a finite number >= 0")
        return x
    raise ValueError(f"price {v!r} is not a number")


def _table_rows(table: pa.Table) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    cols: dict[str, pa.ChunkedArray] = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            if name == "timestamp":
                # Vectorized so ns timestamps need no lossy datetime conversion.
                arr = col.combine_chunks()
                nulls = arr.is_null().to_numpy(zero_copy_only=False)
                vals = _timestamps_ms(arr.fill_null(0) if arr.null_count else arr)
                col = pa.chunked_array([pa.array(vals, mask=nulls)])
            else:
                col = pc.cast(col, pa.string())
        cols[name] = col
    names = list(cols)

    def gen() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, row in enumerate(pa.table(cols).to_pylist()):
            yield i + 1, row

    return names, gen()


def _json_rows(path: Path, kind: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    file = str(path)
    try:
        text = read_text(path, max_bytes=MAX_DATA_BYTES)
    except OSError as exc:
        raise DataError(f"cannot read file: {exc}", file=file) from None
    except FileLimitError as exc:
        raise DataError(f"the file is {exc}", file=file) from None
    rows: list[tuple[int, Any]] = []
    if kind == "json" and text.lstrip()[:1] != "{":
        try:
            doc = loads_json(text, max_depth=MAX_DEPTH + 1)  # the top-level list is one level
        except FileLimitError as exc:
            raise DataError(f"invalid JSON: {str(exc).removeprefix('not valid JSON: ')}", file=file) from None
        if not isinstance(doc, list):
            raise DataError("a JSON alert file must hold a list of objects", file=file)
        rows = list(enumerate(doc, start=1))
    else:  # JSON Lines (also a .json file whose content is one object per line)
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, loads_json(line)))
            except FileLimitError as exc:
                raise DataError(f"invalid JSON: {str(exc).removeprefix('not valid JSON: ')}", file=file,
                                row=lineno) from None
    names: dict[str, None] = {}
    for r, obj in rows:
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=file, row=r)
        names.update(dict.fromkeys(obj))
    return list(names), iter(rows)


# One alert crosses the wire inside a candle batch frame (64 MiB at most, shared with the candles):
# an alert that could never be sent is bad data, refused before any plugin starts, not a plugin crash.
MAX_ALERT_DATA_BYTES = 1024 * 1024


def _check_alert_data(data: dict[str, Any], file: str, row: int) -> None:
    try:
        check_value(data, where="alert data: ")
    except FileLimitError as exc:
        raise DataError(str(exc), file=file, row=row) from None
    if data and len(json.dumps(data, default=str)) > MAX_ALERT_DATA_BYTES:
        raise DataError(
            f"the alert's extra fields take more than {MAX_ALERT_DATA_BYTES // 1024} KiB",
            file=file, row=row,
            hint="keep alert payloads small (an id, a label, a few numbers); store large blobs elsewhere",
        )


def load_alerts(path: str | Path) -> dict[str, list[AlertRecord]]:
    """Alerts per symbol, each list sorted by timestamp (stable: file order among equal timestamps).

    Columns `id` (any -> str), `timestamp` (int ms, Arrow timestamp, ISO-8601 string), `symbol`,
    optional `price` (null/NaN -> None); every other column goes into `data`, JSON-safe (NaN -> None,
    datetimes -> ISO strings). Alert files are small, so they are loaded whole.
    """
    p = Path(path)
    file = str(p)
    kind = _detect_format(p, ("parquet", "ipc_file", "ipc_stream", "csv", "json", "jsonl"))
    if kind in ("json", "jsonl"):
        names, rows = _json_rows(p, kind)
    else:
        try:
            if kind == "csv":
                table = pcsv.read_csv(
                    file,
                    convert_options=pcsv.ConvertOptions(
                        column_types={"id": pa.string(), "symbol": pa.string()}, strings_can_be_null=True
                    ),
                )
            elif kind == "parquet":
                table = pq.read_table(file)
            elif kind == "ipc_file":
                table = pa.ipc.open_file(file).read_all()
            else:
                with pa.OSFile(file) as fh:
                    table = pa.ipc.open_stream(fh).read_all()
        except (pa.ArrowException, OSError) as exc:
            m = _CSV_ROW_RE.search(str(exc))
            row = int(m.group(2)) - 1 if m else None
            raise DataError(f"cannot read file: {exc}", file=file, row=row) from None
        try:
            names, rows = _table_rows(table)
        except _BadValue as bad:  # only a malformed timestamp column gets here
            raise DataError(bad.message, file=file, row=bad.index + 1, column="timestamp") from None
    materialized = list(rows)
    if materialized:
        for col in _ALERT_REQUIRED:
            if col not in names:
                raise DataError(
                    f"missing required column '{col}' (columns found: {', '.join(names)})",
                    file=file, column=col, hint="alert files need id, timestamp, symbol (and optionally price)",
                )
    extra = [n for n in names if n not in (*_ALERT_REQUIRED, "price")]
    out: dict[str, list[AlertRecord]] = {}
    for r, obj in materialized:
        for col in ("id", "symbol"):
            if obj.get(col) is None:
                raise DataError(f"missing {col}", file=file, row=r, column=col)
        sym = obj["symbol"]
        if not isinstance(sym, str) or not sym:
            raise DataError(f"symbol must be a non-empty string, got {sym!r}", file=file, row=r, column="symbol")
        try:
            ts = _py_timestamp_ms(obj.get("timestamp"))
        except ValueError as exc:
            raise DataError(str(exc), file=file, row=r, column="timestamp") from None
        try:
            price = _alert_price(obj.get("price"))
        except ValueError as exc:
            raise DataError(str(exc), file=file, row=r, column="price") from None
        ident = obj["id"]
        if isinstance(ident, float) and ident.is_integer():
            ident = int(ident)
        if not -INT_LIMIT < ts < INT_LIMIT:
            raise DataError(f"timestamp {ts} is out of range (int64 milliseconds)", file=file, row=r,
                            column="timestamp")
        data = {k: _json_safe(obj.get(k)) for k in extra}
        _check_alert_data(data, file, r)
        rec = AlertRecord(id=str(ident), timestamp=ts, symbol=sym, price=price, data=data)
        out.setdefault(sym, []).append(rec)
    for lst in out.values():
        lst.sort(key=lambda a: a.timestamp)
    return out
