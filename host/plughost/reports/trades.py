"""A run's trades (trades.parquet) as columns, and the Arrow time columns of result files as milliseconds.

Result files are read defensively: trade times as Arrow timestamps or integer milliseconds, `side` (long
when absent) and `fees` (absent in older results) optional. The columns the engine writes (float64 numbers,
timestamp[ms] times, no nulls) need no Arrow cast, so the report step never imports pyarrow.compute (~40 ms)
for them; any other type goes through its casts as before. A `Trade` is built only for the rows a page
shows (the table holds up to 2,000 rows and the charts ~1,000 markers, while a run can have hundreds of
thousands of trades).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class Trade:
    symbol: str
    side: str
    entry_ms: int | None
    exit_ms: int | None
    entry_price: float | None
    exit_price: float | None
    size: float | None
    fees: float | None
    pnl: float | None
    entry_reason: str
    exit_reason: str

    @property
    def return_pct(self) -> float | None:
        return self.percent(self.pnl, self.entry_price, self.size)

    @staticmethod
    def percent(pnl: float | None, entry_price: float | None, size: float | None) -> float | None:
        """P&L as a percent of the position's value at entry."""
        if pnl is None or not entry_price or not size:
            return None
        return pnl / abs(entry_price * size) * 100.0


@dataclass
class TradeTable:
    """trades.parquet as columns; a `Trade` is built only for the rows a page shows (the table holds up to
    2,000 rows and the charts ~1,000 markers, while a run can have hundreds of thousands of trades)."""

    symbol: list[str]
    side: list[str]
    entry_ms: list[int | None]
    exit_ms: list[int | None]
    entry_price: list[float | None]
    exit_price: list[float | None]
    size: list[float | None]
    fees: list[float | None]
    pnl: list[float | None]
    entry_reason: list[str]
    exit_reason: list[str]

    @classmethod
    def of(cls, trades: list[Trade]) -> TradeTable:
        return cls(*([getattr(t, f) for t in trades] for f in cls.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.symbol)

    def __getitem__(self, i: int) -> Trade:
        return Trade(self.symbol[i], self.side[i], self.entry_ms[i], self.exit_ms[i], self.entry_price[i],
                     self.exit_price[i], self.size[i], self.fees[i], self.pnl[i], self.entry_reason[i],
                     self.exit_reason[i])

    def rows_of(self, symbol: str) -> list[int]:
        """The trades drawn on `symbol`'s chart (a trade without a symbol is drawn on every chart)."""
        if set(self.symbol) <= {"", symbol}:  # one symbol (the usual run): no test per trade
            return list(range(len(self.symbol)))
        return [i for i, s in enumerate(self.symbol) if s in ("", symbol)]


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    stamp = dt.datetime.fromtimestamp(ms / 1000.0, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S" if stamp.second or ms % 1000 == 0 else "%Y-%m-%d %H:%M:%S.%f")[:23]


def read_trades(path: Path) -> TradeTable:
    with pq.ParquetFile(path) as file:  # not pq.read_table: that imports pyarrow.dataset (~5-60 ms)
        table = file.read()
    n = table.num_rows
    names = set(table.column_names)

    def text(name: str, default: str) -> list[str]:
        if name not in names:
            return [default] * n
        column = table.column(name)
        if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and not column.null_count:
            strings: list[str] = column.to_pylist()  # as written: no str() per value
            return strings
        return [default if v is None else str(v) for v in column.to_pylist()]

    def num(name: str) -> list[float | None]:
        if name not in names:
            return [None] * n
        column = table.column(name)
        if pa.types.is_float64(column.type):  # nulls arrive as NaN either way
            values = np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
        else:
            import pyarrow.compute as pc

            values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), np.float64)
        out: list[float | None] = values.tolist()
        for i in np.flatnonzero(~np.isfinite(values)).tolist():  # NaN is also how Arrow nulls arrive here
            out[i] = None
        return out

    def when(name: str) -> list[int | None]:
        if name not in names or not _is_time_or_number(table.column(name).type):
            return [None] * n
        column = table.column(name)
        out: list[int | None] = ms_array(column).tolist()
        if column.null_count:
            import pyarrow.compute as pc

            out = [v if ok else None for v, ok in zip(out, pc.is_valid(column).to_pylist(), strict=True)]
        return out

    entry, exit_ = when("entry_time"), when("exit_time")
    side, symbol = text("side", "long"), text("symbol", "")
    side = list(map({v: v.lower() for v in set(side)}.__getitem__, side))  # a few distinct values
    ep, xp, size, fees, pnl = num("entry_price"), num("exit_price"), num("size"), num("fees"), num("pnl")
    er, xr = text("entry_reason", ""), text("exit_reason", "")
    return TradeTable(symbol, side, entry, exit_, ep, xp, size, fees, pnl, er, xr)


def _is_time_or_number(typ: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(typ) or pa.types.is_date(typ) or pa.types.is_integer(typ)
                or pa.types.is_floating(typ))


def ms_array(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Times as int64 milliseconds since the epoch (missing -> 0) from an Arrow timestamp, date or number
    column, without a Python int per row (equity has one row per candle time)."""
    typ = column.type
    if not column.null_count and (pa.types.is_integer(typ) or (pa.types.is_timestamp(typ) and typ.unit == "ms")):
        return np.asarray(column.to_numpy(zero_copy_only=False)).astype(np.int64)  # the values as stored
    import pyarrow.compute as pc

    if pa.types.is_timestamp(typ):
        column = pc.cast(pc.cast(column, pa.timestamp("ms", tz=typ.tz)), pa.int64())
    elif pa.types.is_date(typ):
        column = pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
    elif not _is_time_or_number(typ):
        return np.zeros(len(column), np.int64)
    return np.asarray(pc.fill_null(column, 0).to_numpy(zero_copy_only=False)).astype(np.int64)
