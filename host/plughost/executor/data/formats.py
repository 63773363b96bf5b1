"""File formats: recognise a candle or alert file and scan it in batches with a projection.

Candles stream through pyarrow scanners (Parquet through `ParquetFile.iter_batches`), so a 10M-row file
is read in bounded memory. Column names here are the file's own; `columns.py` maps them to ours.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pyarrow.dataset costs ~0.1 s to import; only CSV, IPC files and streams need it
    import pyarrow.dataset as ds

from plughost.errors import DataError

SCAN_BATCH = 65536
# Cells read as missing in a CSV. Arrow's default list also holds "NA" and "N/A", which are tickers.
CSV_NULLS = ["", "null", "NULL", "None"]
# Readahead is what would make RSS grow with file size; a couple of batches keeps the decoder busy.
_READAHEAD = dict(batch_readahead=2, fragment_readahead=1)
CSV_ROW_RE = re.compile(r"CSV column #(\d+): Row #(\d+)")

_NAMES = {"parquet": "Parquet", "ipc_file": "Arrow IPC", "ipc_stream": "Arrow IPC", "csv": "CSV",
          "json": "JSON", "jsonl": "JSON Lines"}


def detect_format(path: Path, kinds: tuple[str, ...]) -> str:
    """The file's format, by magic bytes first and then by suffix; refuse one not in `kinds`."""
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
        wanted = ", ".join(dict.fromkeys(_NAMES[k] for k in kinds))
        raise DataError(
            f"unsupported file format '{suffix or '(no suffix)'}'",
            file=str(path),
            hint=f"use one of: {wanted}",
        )
    return kind


def csv_header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


class Reader:
    """One file, scanned as often as needed with a projection and an optional symbol filter.

    `csv_types` gets the CSV header and returns the column types to force (a CSV has no schema of its
    own; prices forced to float64 so an integer-looking first block cannot make a later "1.5" an error).
    """

    def __init__(self, path: Path, kind: str,
                 csv_types: Callable[[list[str]], dict[str, pa.DataType]] | None = None) -> None:
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
                import pyarrow.dataset as ds

                fmt: Any = "ipc"
                if kind == "csv":
                    types = csv_types(csv_header(path)) if csv_types else {}
                    # strings_can_be_null: an empty timestamp or symbol cell is missing, not the text "".
                    fmt = ds.CsvFileFormat(convert_options=pcsv.ConvertOptions(
                        column_types=types, strings_can_be_null=True, null_values=CSV_NULLS))
                self._dataset = ds.dataset(str(path), format=fmt)
                self.schema = self._dataset.schema
        except (pa.ArrowException, OSError, ValueError) as exc:
            # CSV dataset creation already converts the first block, so a bad value there lands here.
            raise self.translate(exc) from None

    def batches(self, columns: list[str], symbol: str | None = None, symbol_column: str = "symbol",
                batch_size: int = SCAN_BATCH) -> Iterator[pa.RecordBatch]:
        """Batches of `columns` (file names, in that order), only the rows of `symbol` when given."""
        read = columns if symbol is None or symbol_column in columns else [*columns, symbol_column]
        groups = self._row_groups(symbol_column, symbol) if symbol is not None else None
        try:
            for batch in self._raw_batches(read, batch_size, groups):
                if symbol is not None:
                    import pyarrow.compute as pc  # here, not at the top: pyarrow.compute costs ~50 ms of start-up

                    # Filtering here rather than in the scanner keeps one code path for every format.
                    batch = batch.filter(pc.equal(batch.column(symbol_column), symbol))
                    if read is not columns:
                        batch = batch.select(columns)
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise self.translate(exc) from None

    def int_range(self, column: str) -> tuple[int, int] | None:
        """(min, max) of an integer column from Parquet statistics, when every row group has them;
        None otherwise (the caller then reads the column)."""
        found = self._column_stats(column)
        if found is None:
            return None
        lo: int | None = None
        hi: int | None = None
        for stats in found:
            try:
                a, b = (stats.min, stats.max) if stats is not None and stats.has_min_max else (None, None)
            except (ValueError, pa.ArrowException):  # a logical type pyarrow cannot turn into Python
                return None
            if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool):
                return None
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
        return None if lo is None or hi is None else (lo, hi)

    def _column_stats(self, column: str) -> list[Any] | None:
        """The column's statistics in each Parquet row group (None where a group has none); None when the
        file is not Parquet or has no such column."""
        if self.kind != "parquet":
            return None
        md = pq.ParquetFile(str(self.path)).metadata
        try:
            index = md.schema.names.index(column)
        except ValueError:
            return None
        return [md.row_group(g).column(index).statistics for g in range(md.num_row_groups)]

    def _row_groups(self, column: str, symbol: str) -> list[int] | None:
        """Parquet row groups that may hold `symbol`, by their min/max statistics (None: all). A file
        written symbol after symbol is then read about once in all, not once a symbol."""
        found = self._column_stats(column)
        if found is None:
            return None
        out = []
        for g, stats in enumerate(found):
            if stats is None or not stats.has_min_max or not isinstance(stats.min, str) \
                    or stats.min <= symbol <= stats.max:
                out.append(g)
        return out

    def _raw_batches(self, columns: list[str], batch_size: int,
                     row_groups: list[int] | None = None) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            # ParquetFile's batch reader with a small read buffer and no pre-buffering decodes
            # batch_size rows at a time; the dataset scanner decodes (and reads ahead) whole row groups,
            # which made RSS grow with the file (~350 MB vs ~135 MB peak at 10M rows).
            pf = pq.ParquetFile(str(self.path), pre_buffer=False, buffer_size=1 << 20)
            try:
                yield from pf.iter_batches(batch_size=batch_size, columns=columns, row_groups=row_groups)
            finally:
                pf.close()
        elif self._dataset is not None:
            yield from self._dataset.to_batches(columns=columns, batch_size=batch_size, **_READAHEAD)
        else:
            import pyarrow.dataset as ds

            with pa.OSFile(str(self.path)) as fh:
                scanner = ds.Scanner.from_batches(
                    pa.ipc.open_stream(fh), columns=columns, batch_size=batch_size, **_READAHEAD
                )
                yield from scanner.to_batches()

    def translate(self, exc: Exception) -> DataError:
        text = str(exc)
        m = CSV_ROW_RE.search(text)
        if self.kind == "csv" and m:
            col_index, line = int(m.group(1)), int(m.group(2))
            names = self.schema.names if hasattr(self, "schema") else csv_header(self.path)
            column = names[col_index] if col_index < len(names) else None
            detail = text.split(": ", 2)[-1]
            return DataError(f"wrong type: {detail}", file=str(self.path), row=line - 1, column=column)
        return DataError(f"cannot read file: {text}", file=str(self.path))
