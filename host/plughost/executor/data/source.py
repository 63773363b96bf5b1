"""`CandleSource`: a candle file opened, validated in full, and streamed per symbol or merged.

`open_candles` refuses a bad file before anything runs: the format and columns first, then one read
of the whole file that converts every timestamp and value and checks them (null, NaN, infinite or
non-positive price, negative volume, `high < low`, an empty symbol, a duplicate timestamp of one
symbol). Integer timestamps cost one more projected read of that column, to read their unit from the
largest magnitude. Streaming then reads the file again; each symbol in time order, or all merged.

Unsorted symbols are the one case that is loaded whole: the symbol's rows are read into memory,
stable-sorted by timestamp, then served in chunks. Sorted symbols (the common case) stream.

Rows in errors are 1-based data rows of the original file (row 1 is the first candle; in a CSV with a
header that is line 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from plughost.errors import DataError

from .checks import CANDLE_COLUMNS, VALUE_COLUMNS, BadValue, check_values, first_null, fmt_ts, values_f64
from .columns import (
    TIMESTAMP_ALIASES,
    TimestampCodec,
    check_unit,
    is_string_type,
    resolve_columns,
    timestamp_codec,
    timestamp_type_ok,
)
from .formats import Reader, detect_format
from .merge import (
    CandleChunk,
    MergedChunk,
    Pieces,
    merge_in_memory,
    merge_single,
    merge_streams,
    merge_time_sorted,
)

_WANTED: dict[str, tuple[str, ...]] = {
    "timestamp": TIMESTAMP_ALIASES, **{c: (c,) for c in VALUE_COLUMNS}, "symbol": ("symbol",),
}
_HINT = ("candle files need timestamp, open, high, low, close, volume (and optionally symbol); names match "
         "case-insensitively, and date, datetime, time or open_time are read as timestamp")
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min


def _csv_types(header: list[str]) -> dict[str, pa.DataType]:
    types: dict[str, pa.DataType] = {}
    for name in header:
        n = name.strip().lower()
        if n in VALUE_COLUMNS:
            types[name] = pa.float64()
        elif n == "symbol":
            types[name] = pa.string()  # "0001" keeps its zeros
    return types


def _number_type_ok(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


class CandleSource:
    """A candle file opened and validated by `open_candles`.

    `timestamp_unit` says how the timestamps were read ("s", "ms", "us", "ns", "iso8601",
    "arrow[us, UTC]", ...); `symbol_from_file_stem` is True when the file has no `symbol` column and
    its one symbol is named by the file's stem.
    """

    # A file of several symbols in no overall time order is merged either by one read and an in-memory
    # sort (~170 bytes a row at the peak, measured) or by a k-way merge of per-symbol scans (memory
    # independent of the file's length, but each open Parquet reader holds ~15-30 MB of Arrow buffers).
    # `None` picks whichever needs less: in memory up to max(1M rows, 300k rows a symbol). An int sets
    # the row limit (tests set 0 to force the k-way merge).
    merge_in_memory_rows: int | None = None

    def __init__(self, path: Path, *, timestamp_unit: str | None = None) -> None:
        self.path = path
        self._file = str(path)
        forced = check_unit(timestamp_unit)
        kind = detect_format(path, ("parquet", "ipc_file", "ipc_stream", "csv"))
        self._reader = Reader(path, kind, _csv_types)
        self._cols = resolve_columns(self._reader.schema.names, _WANTED, file=self._file,
                                     required=CANDLE_COLUMNS, hint=_HINT)
        self._has_symbol = "symbol" in self._cols
        self.symbol_from_file_stem = not self._has_symbol
        self._check_types()
        ts_col = self._cols["timestamp"]
        ts_type = self._reader.schema.field(ts_col).type
        known = self._reader.int_range(ts_col) if pa.types.is_integer(ts_type) and forced is None else None
        self._codec: TimestampCodec = timestamp_codec(
            ts_type, ts_col, lambda: self._reader.batches([ts_col]),
            forced_unit=forced, file=self._file, known_range=known,
        )
        # Arrow parses a CSV's ISO-8601 text into timestamps; what the file holds is still text.
        self.timestamp_unit = "iso8601" if kind == "csv" and self._codec.kind in ("arrow", "date") \
            else self._codec.label
        self._names: list[str] = []
        self._prescan()

    # -- public ------------------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Symbol names, sorted; `MergedChunk.symbol` indexes this list."""
        return list(self._sorted_names)

    def count(self, symbol: str) -> int:
        return int(self._counts[self._index(symbol)])

    def first_timestamp(self, symbol: str) -> int:
        return int(self._min_ts[self._index(symbol)])

    def last_timestamp(self, symbol: str) -> int:
        return int(self._max_ts[self._index(symbol)])

    def is_sorted(self, symbol: str) -> bool:
        """False when the file holds this symbol out of time order (it is then loaded whole to sort)."""
        return not bool(self._unsorted[self._index(symbol)])

    def iter_chunks(self, symbol: str, rows: int = 65536) -> Iterator[CandleChunk]:
        """Yield the symbol's candles in time order, `rows` at a time (the last chunk may be shorter)."""
        if rows < 1:
            raise ValueError("rows must be >= 1")
        if self.is_sorted(symbol):
            return self._stream(symbol, rows)
        return self._sorted_in_memory(symbol, rows)

    def iter_merged(self, rows: int = 65536) -> Iterator[MergedChunk]:
        """Every symbol in one stream ordered by (timestamp, symbol name), `rows` at a time."""
        if rows < 1:
            raise ValueError("rows must be >= 1")
        names = self._sorted_names
        last = self._max_ts[self._order]  # by sorted-name index
        if len(names) == 1:
            return merge_single(self.iter_chunks(names[0], rows), int(last[0]))
        if self._time_sorted:
            return merge_time_sorted(self._file_order_batches(), last, rows)
        limit = self.merge_in_memory_rows
        if limit is None:
            limit = max(1_000_000, 300_000 * len(names))
        if int(self._counts.sum()) <= limit:
            return merge_in_memory(self._file_order_batches(), last, rows)
        return merge_streams([self.iter_chunks(s, rows) for s in names], last, rows)

    def validate(self) -> None:
        """Kept for callers of the old API: `open_candles` now validates everything up front."""

    # -- schema and pre-scan ---------------------------------------------------------------------------
    def _index(self, symbol: str) -> int:
        try:
            return self._ids[symbol]
        except KeyError:
            raise KeyError(f"{self._file}: no symbol {symbol!r}; symbols are {self.symbols()}") from None

    def _check_types(self) -> None:
        schema = self._reader.schema
        checks: list[tuple[str, Any, str]] = [
            ("timestamp", timestamp_type_ok,
             "an integer count since the epoch, an ISO-8601 string or an Arrow timestamp")]
        checks += [(c, _number_type_ok, "a number") for c in VALUE_COLUMNS]
        if self._has_symbol:
            checks.append(("symbol", is_string_type, "a string"))
        for ours, ok, expected in checks:
            col = self._cols[ours]
            t = schema.field(col).type
            if not ok(t):
                row, sample = self._first_wrong_value(col, ours)
                found = f"; first offending value {sample!r}" if sample is not None else ""
                raise DataError(
                    f"wrong type: column '{col}' is {t}, expected {expected}{found}",
                    file=self._file, row=row, column=col,
                )

    def _first_wrong_value(self, col: str, ours: str) -> tuple[int | None, Any]:
        """Find the first value that is not of the expected kind, to name its row."""
        base = 0
        try:
            for batch in self._reader.batches([col]):
                for i, v in enumerate(batch.column(0).to_pylist()):
                    if v is None:
                        continue
                    try:
                        if isinstance(v, bool) or not isinstance(v, str | int | float):
                            return base + i + 1, v
                        if ours == "timestamp":
                            if isinstance(v, float) and not v.is_integer():
                                return base + i + 1, v
                            int(v)
                        else:
                            float(v)
                        if ours == "symbol":
                            return base + i + 1, v
                    except (TypeError, ValueError):
                        return base + i + 1, v
                base += batch.num_rows
        except DataError:
            return None, None
        return (1, None) if base else (None, None)

    def _read_columns(self) -> list[str]:
        return [self._cols[c] for c in CANDLE_COLUMNS]

    def _bad(self, bad: BadValue, row: int) -> DataError:
        column = self._cols.get(bad.column, bad.column)
        return DataError(bad.message, file=self._file, row=row, column=column)

    def _symbol_codes(self, sym: pa.Array, base: int, ids: dict[str, int]) -> np.ndarray:
        if sym.null_count:
            raise DataError("missing symbol", file=self._file, row=base + first_null(sym) + 1,
                            column=self._cols["symbol"])
        if pa.types.is_dictionary(sym.type):
            enc = sym
        else:
            import pyarrow.compute as pc  # here, not at the top: pyarrow.compute costs ~50 ms of start-up

            enc = pc.dictionary_encode(sym)
        local_names = enc.dictionary.to_pylist()
        local = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        for j, name in enumerate(local_names):
            if not name.strip():
                row = base + int(np.flatnonzero(local == j)[0]) + 1
                raise DataError(f"empty symbol {name!r}", file=self._file, row=row, column=self._cols["symbol"],
                                hint="every row needs a symbol name, or leave the symbol column out")
        gid = np.array([ids.setdefault(s, len(ids)) for s in local_names], dtype=np.int64)
        return gid[local]  # type: ignore[no-any-return]

    def _prescan(self) -> None:
        """One read of the whole file: every check, the symbol set, counts, first/last times, order."""
        cols = self._read_columns() + ([self._cols["symbol"]] if self._has_symbol else [])
        ids: dict[str, int] = {}
        size = 0
        counts = np.zeros(0, dtype=np.int64)
        last_ts = np.zeros(0, dtype=np.int64)  # in file order
        last_row = np.zeros(0, dtype=np.int64)  # 1-based; 0 = not seen yet
        min_ts = np.zeros(0, dtype=np.int64)
        max_ts = np.zeros(0, dtype=np.int64)
        unsorted = np.zeros(0, dtype=bool)
        time_sorted = True
        prev_file_ts: int | None = None
        base = 0
        for batch in self._reader.batches(cols):
            n = batch.num_rows
            if n == 0:
                continue
            try:
                ts = self._codec.to_ms(batch.column(0))
                check_values({c: values_f64(batch.column(i + 1), c) for i, c in enumerate(VALUE_COLUMNS)})
            except BadValue as bad:
                raise self._bad(bad, base + bad.index + 1) from None
            if self._has_symbol:
                codes = self._symbol_codes(batch.column(6), base, ids)
            else:
                ids.setdefault(self.path.stem, 0)
                codes = np.zeros(n, dtype=np.int64)
            if time_sorted:
                time_sorted = bool((ts[1:] >= ts[:-1]).all()) and (prev_file_ts is None or ts[0] >= prev_file_ts)
                prev_file_ts = int(ts[-1])
            if len(ids) > size:
                grow = len(ids) - size
                size = len(ids)
                counts = np.concatenate([counts, np.zeros(grow, np.int64)])
                last_ts = np.concatenate([last_ts, np.zeros(grow, np.int64)])
                last_row = np.concatenate([last_row, np.zeros(grow, np.int64)])
                min_ts = np.concatenate([min_ts, np.full(grow, _I64_MAX, np.int64)])
                max_ts = np.concatenate([max_ts, np.full(grow, _I64_MIN, np.int64)])
                unsorted = np.concatenate([unsorted, np.zeros(grow, bool)])
            names = list(ids)
            if size == 1:
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
                    f"duplicate timestamp {fmt_ts(int(t[j]))} for symbol '{names[c[j]]}' "
                    f"(also at row {int(prev_row[j])})",
                    file=self._file, row=int(rows[j]), column=self._cols["timestamp"],
                )
            back = seen & (t < prev_t)
            if back.any():
                unsorted[np.unique(c[back])] = True
            ends = np.r_[starts[1:] - 1, len(c) - 1]
            last_ts[c[ends]] = t[ends]
            last_row[c[ends]] = rows[ends]
            syms = c[starts]
            min_ts[syms] = np.minimum(min_ts[syms], np.minimum.reduceat(t, starts))
            max_ts[syms] = np.maximum(max_ts[syms], np.maximum.reduceat(t, starts))
            counts += np.bincount(codes, minlength=size)
            base += n
        if base == 0:
            raise DataError("the file holds no candles", file=self._file)
        names = list(ids)
        self._names = names
        self._counts, self._min_ts, self._max_ts, self._unsorted = counts, min_ts, max_ts, unsorted
        self._single = size == 1
        self._time_sorted = time_sorted
        self._sorted_names = sorted(names)
        self._ids = {s: i for i, s in enumerate(names)}
        # file-order id of each sorted-name index, and the sorted index of each file-order id
        self._order = np.array([self._ids[s] for s in self._sorted_names], dtype=np.int64)
        self._rank = np.empty(size, dtype=np.int32)
        self._rank[self._order] = np.arange(size, dtype=np.int32)
        if unsorted.any():
            self._check_unsorted_duplicates()

    def _check_unsorted_duplicates(self) -> None:
        """Duplicates of an unsorted symbol need not be neighbours in the file: sort its times to see."""
        wanted = np.flatnonzero(self._unsorted)
        cols = [self._cols["timestamp"]] + ([self._cols["symbol"]] if self._has_symbol else [])
        ts_parts: list[np.ndarray] = []
        row_parts: list[np.ndarray] = []
        code_parts: list[np.ndarray] = []
        base = 0
        for batch in self._reader.batches(cols):
            n = batch.num_rows
            ts = self._codec.to_ms(batch.column(0))
            if self._has_symbol:
                codes = self._symbol_codes(batch.column(1), base, dict(self._ids))
            else:
                codes = np.zeros(n, dtype=np.int64)
            keep = np.isin(codes, wanted)
            ts_parts.append(ts[keep])
            row_parts.append(base + np.flatnonzero(keep) + 1)
            code_parts.append(codes[keep])
            base += n
        ts = np.concatenate(ts_parts)
        rows = np.concatenate(row_parts)
        codes = np.concatenate(code_parts)
        order = np.lexsort((rows, ts, codes))
        t, r, c = ts[order], rows[order], codes[order]
        dup = np.flatnonzero((t[1:] == t[:-1]) & (c[1:] == c[:-1]))
        if len(dup):
            # The earliest later-occurrence in the file is the row to name.
            j = int(dup[np.argmin(r[dup + 1])]) + 1
            raise DataError(
                f"duplicate timestamp {fmt_ts(int(t[j]))} for symbol '{self._names[c[j]]}' "
                f"(also at row {int(r[j - 1])})",
                file=self._file, row=int(r[j]), column=self._cols["timestamp"],
            )

    # -- streaming -----------------------------------------------------------------------------------
    def _symbol_batches(self, symbol: str) -> Iterator[pa.RecordBatch]:
        return self._reader.batches(self._read_columns(), symbol=None if self._single else symbol,
                                    symbol_column=self._cols.get("symbol", "symbol"))

    def _convert(self, batch: pa.RecordBatch) -> tuple[np.ndarray, ...]:
        # Values were checked when the file was opened; only the conversion is left.
        ts = self._codec.to_ms(batch.column(0))
        return (ts, *(values_f64(batch.column(i + 1), c) for i, c in enumerate(VALUE_COLUMNS)))

    def _stream(self, symbol: str, rows: int) -> Iterator[CandleChunk]:
        pieces = Pieces(rows)
        for batch in self._symbol_batches(symbol):
            for off, cols in pieces.push(self._convert_checked(batch)):
                yield CandleChunk(symbol, off, *cols)
        for off, cols in pieces.flush():
            yield CandleChunk(symbol, off, *cols)

    def _convert_checked(self, batch: pa.RecordBatch) -> tuple[np.ndarray, ...]:
        try:
            return self._convert(batch)
        except BadValue as bad:  # pragma: no cover - only if the file changed since it was opened
            raise self._bad(bad, 0) from None

    def _file_order_batches(self) -> Iterator[tuple[np.ndarray, ...]]:
        cols = [*self._read_columns(), self._cols["symbol"]]
        ids = dict(self._ids)
        base = 0
        for batch in self._reader.batches(cols):
            conv = self._convert_checked(batch)
            codes = self._symbol_codes(batch.column(6), base, ids)
            base += batch.num_rows
            yield (*conv, self._rank[codes])

    def _sorted_in_memory(self, symbol: str, rows: int) -> Iterator[CandleChunk]:
        parts = [self._convert_checked(b) for b in self._symbol_batches(symbol)]
        cols = [np.concatenate([p[k] for p in parts]) for k in range(len(CANDLE_COLUMNS))]
        del parts
        order = np.argsort(cols[0], kind="stable")
        sorted_cols = [c[order] for c in cols]
        del cols
        for start in range(0, len(order), rows):
            yield CandleChunk(symbol, start, *(c[start:start + rows] for c in sorted_cols))


def open_candles(path: str | Path, *, validate: bool = True, timestamp_unit: str | None = None) -> CandleSource:
    """Open and validate a candle file; `DataError` (file, row, column) for anything wrong in it.

    `timestamp_unit` ("s", "ms", "us", "ns") forces the unit of integer timestamps instead of reading
    it from their magnitude. `validate` is accepted for older callers: every check now runs here.
    """
    return CandleSource(Path(path), timestamp_unit=timestamp_unit)
