"""Alert files (Parquet, Arrow IPC, CSV, JSON, JSON Lines): loaded whole, checked, in stream order.

Columns `id`, `timestamp` (or `date`, `datetime`, `time`, `open_time`), `symbol`, optional `price`,
matched case-insensitively; every other column reaches the plugin in `data`. Timestamps are read as
candle timestamps are (see `columns.py`): integer counts take their unit from the largest magnitude in
the file unless one is forced.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from plughost.errors import DataError

from .checks import BadValue
from .columns import (
    TIMESTAMP_ALIASES,
    TimestampCodec,
    check_unit,
    iso_to_ms,
    resolve_columns,
    unit_from_magnitude,
)
from .formats import CSV_NULLS, CSV_ROW_RE, csv_header, detect_format

_WANTED: dict[str, tuple[str, ...]] = {
    "id": ("id",), "timestamp": TIMESTAMP_ALIASES, "symbol": ("symbol",), "price": ("price",),
}
_INT_RE = re.compile(r"\s*[-+]?\d+\s*")
_TO_MS = {"s": 1000, "ms": 1, "us": 1 / 1000, "ns": 1 / 1_000_000}


@dataclass(frozen=True)
class AlertRecord:
    id: str
    timestamp: int
    symbol: str
    price: float | None
    data: dict[str, Any]


class AlertList(list[AlertRecord]):
    """The alerts of a file in stream order (time, then file order); `timestamp_unit` says how the
    timestamps were read ("ms", "s", "iso8601", "arrow[ns, UTC]", ...; "" for an empty file)."""

    timestamp_unit: str = ""


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


def _numeric(v: Any) -> float | int | None:
    """The number an integer-ish timestamp holds (int, float, integer string), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    if isinstance(v, str) and _INT_RE.fullmatch(v):
        return int(v)
    return None


def _py_timestamp_ms(v: Any, unit: str) -> int:
    """One alert timestamp: a count in `unit`, an ISO-8601 string, or a datetime/date."""
    if isinstance(v, bool) or v is None:
        raise ValueError("missing timestamp" if v is None else "a boolean is not a timestamp")
    num = _numeric(v)
    if num is not None:
        if isinstance(num, float) and not math.isfinite(num):
            raise ValueError(f"timestamp {num!r} is not a number")
        if isinstance(num, int):
            return num * 1000 if unit == "s" else (num if unit == "ms" else num // (1000 if unit == "us" else 10**6))
        return math.floor(num * _TO_MS[unit])
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        delta = v - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return int((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)
    if isinstance(v, _dt.date):
        return _py_timestamp_ms(_dt.datetime(v.year, v.month, v.day), unit)
    if isinstance(v, str):
        try:
            return iso_to_ms(v)
        except ValueError:
            raise ValueError(f"cannot parse timestamp {v!r} (use ISO-8601 or an integer count since the "
                             f"epoch)") from None
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
        if math.isinf(x) or x <= 0:
            raise ValueError(f"price {x!r} must be a finite number > 0 (leave it empty for none)")
        return x
    raise ValueError(f"price {v!r} is not a number")


Rows = Iterator[tuple[int, dict[str, Any]]]


def _table_rows(table: pa.Table, file: str) -> tuple[list[str], Rows, str | None]:
    """Rows of a columnar file; an Arrow timestamp column becomes ms here (vectorized, no lossy ns ->
    datetime step), and its label is returned so the caller does not read those ms as a count."""
    cols: dict[str, pa.ChunkedArray] = {}
    label = None
    ts_names = {n for n in table.column_names if n.strip().lower() in TIMESTAMP_ALIASES}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            if name in ts_names:
                arr = col.combine_chunks()
                nulls = arr.is_null().to_numpy(zero_copy_only=False)
                kind = "arrow" if pa.types.is_timestamp(t) else "date"
                codec = TimestampCodec(kind, getattr(t, "unit", ""), "", name)
                try:
                    vals = codec.to_ms(arr.fill_null(0) if arr.null_count else arr)
                except BadValue as bad:  # pragma: no cover - Arrow timestamps always convert
                    raise DataError(bad.message, file=file, row=bad.index + 1, column=name) from None
                col = pa.chunked_array([pa.array(vals, mask=nulls)])
                label = f"arrow[{t.unit}, {t.tz}]" if pa.types.is_timestamp(t) and t.tz else (
                    f"arrow[{t.unit}]" if pa.types.is_timestamp(t) else f"arrow[{t}]")
            else:
                col = col.cast(pa.string())
        cols[name] = col
    names = list(cols)

    def gen() -> Rows:
        for i, row in enumerate(pa.table(cols).to_pylist()):
            yield i + 1, row

    return names, gen(), label


def _json_rows(path: Path, kind: str) -> tuple[list[str], Rows]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read file: {exc}", file=file) from None
    rows: list[tuple[int, Any]] = []
    if kind == "json" and text.lstrip()[:1] != "{":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON at line {exc.lineno}: {exc.msg}", file=file) from None
        if not isinstance(doc, list):
            raise DataError("a JSON alert file must hold a list of objects", file=file)
        rows = list(enumerate(doc, start=1))
    else:  # JSON Lines (also a .json file whose content is one object per line)
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", file=file, row=lineno) from None
    names: dict[str, None] = {}
    for r, obj in rows:
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=file, row=r)
        names.update(dict.fromkeys(obj))
    return list(names), iter(rows)


def _read_table(path: Path, kind: str) -> pa.Table:
    file = str(path)
    try:
        if kind == "csv":
            forced = {n: pa.string() for n in csv_header(path) if n.strip().lower() in ("id", "symbol")}
            return pcsv.read_csv(file, convert_options=pcsv.ConvertOptions(
                column_types=forced, strings_can_be_null=True, null_values=CSV_NULLS))
        if kind == "parquet":
            return pq.read_table(file)
        if kind == "ipc_file":
            return pa.ipc.open_file(file).read_all()
        with pa.OSFile(file) as fh:
            return pa.ipc.open_stream(fh).read_all()
    except (pa.ArrowException, OSError) as exc:
        m = CSV_ROW_RE.search(str(exc))
        row = int(m.group(2)) - 1 if m else None
        raise DataError(f"cannot read file: {exc}", file=file, row=row) from None


def load_alerts(path: str | Path, *, timestamp_unit: str | None = None) -> AlertList:
    """Every alert of the file, in stream order: by timestamp, then file order.

    `id` (any -> str), `timestamp`, `symbol` (a non-empty string), optional `price` (null/NaN/empty ->
    None, else finite and > 0); every other column goes into `data`, JSON-safe (NaN -> None, datetimes
    -> ISO strings). `timestamp_unit` forces the unit of integer timestamps.
    """
    forced = check_unit(timestamp_unit)
    p = Path(path)
    file = str(p)
    kind = detect_format(p, ("parquet", "ipc_file", "ipc_stream", "csv", "json", "jsonl"))
    arrow_label: str | None = None
    if kind in ("json", "jsonl"):
        names, rows = _json_rows(p, kind)
    else:
        names, rows, arrow_label = _table_rows(_read_table(p, kind), file)
        if kind == "csv" and arrow_label is not None:
            arrow_label = "iso8601"  # Arrow parsed the CSV's text; the file holds ISO-8601 strings
    materialized = list(rows)
    out = AlertList()
    if not materialized:
        return out
    cols = resolve_columns(names, _WANTED, file=file, required=("id", "timestamp", "symbol"),
                           hint="alert files need id, timestamp, symbol (and optionally price)")
    ts_col, id_col, sym_col = cols["timestamp"], cols["id"], cols["symbol"]
    price_col = cols.get("price")
    extra = [n for n in names if n not in cols.values()]
    if arrow_label is not None:
        unit, label = "ms", arrow_label  # already converted to ms by `_table_rows`
    else:
        nums = [abs(n) for _, obj in materialized if (n := _numeric(obj.get(ts_col))) is not None
                and math.isfinite(n)]
        unit = forced or (unit_from_magnitude(int(max(nums))) if nums else "ms")
        has_text = any(isinstance(obj.get(ts_col), str) and _numeric(obj.get(ts_col)) is None
                       for _, obj in materialized)
        label = ", ".join(x for x in ((unit if nums else ""), ("iso8601" if has_text else "")) if x) or unit
    recs: list[tuple[int, int, AlertRecord]] = []
    for r, obj in materialized:
        for col in (id_col, sym_col):
            if obj.get(col) is None:
                raise DataError(f"missing {col}", file=file, row=r, column=col)
        sym = obj[sym_col]
        if not isinstance(sym, str) or not sym.strip():
            raise DataError(f"symbol must be a non-empty string, got {sym!r}", file=file, row=r, column=sym_col)
        try:
            ts = _py_timestamp_ms(obj.get(ts_col), unit)
        except ValueError as exc:
            raise DataError(str(exc), file=file, row=r, column=ts_col) from None
        try:
            price = _alert_price(obj.get(price_col)) if price_col else None
        except ValueError as exc:
            raise DataError(str(exc), file=file, row=r, column=price_col) from None
        ident = obj[id_col]
        if isinstance(ident, float) and ident.is_integer():
            ident = int(ident)
        rec = AlertRecord(id=str(ident), timestamp=ts, symbol=sym, price=price,
                          data={k: _json_safe(obj.get(k)) for k in extra})
        recs.append((ts, r, rec))
    recs.sort(key=lambda x: (x[0], x[1]))
    out.extend(rec for _, _, rec in recs)
    out.timestamp_unit = label
    return out
