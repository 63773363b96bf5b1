"""Honest data: column names and aliases, timestamp units, and every refusal naming file, row, column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from plughost.errors import ConfigError, DataError
from plughost.executor.data import load_alerts, open_candles

SECS = np.array([1_704_067_200, 1_704_067_260, 1_704_067_320, 1_704_067_380], dtype=np.int64)
MS = SECS * 1000


def prices(n: int = 4) -> dict[str, Any]:
    close = 100.0 + np.arange(n, dtype=np.float64)
    return {"open": close - 0.5, "high": close + 1.0, "low": close - 1.0, "close": close, "volume": np.full(n, 3.0)}


def write(path: Path, table: pa.Table) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".feather":
        feather.write_feather(table, path)
    elif path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        raise AssertionError(path.suffix)
    return path


def timestamps(path: Path, **kw: Any) -> tuple[np.ndarray, str]:
    src = open_candles(path, **kw)
    (sym,) = src.symbols()
    return np.concatenate([c.timestamp for c in src.iter_chunks(sym)]), src.timestamp_unit


# ------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("ts_name", ["timestamp", "Timestamp", "TIMESTAMP", "date", "Date", "datetime",
                                     "DateTime", "time", "Time", "open_time", "Open_Time", " timestamp "])
def test_timestamp_aliases_and_case(tmp_path: Path, suffix: str, ts_name: str) -> None:
    cols = {ts_name: MS, **{k.capitalize(): v for k, v in prices().items()}}
    got, unit = timestamps(write(tmp_path / f"BTC{suffix}", pa.table(cols)))
    np.testing.assert_array_equal(got, MS)
    assert unit == "ms"


@pytest.mark.parametrize("names", [("OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"),
                                   ("Open", "High", "Low", "Close", "Volume"),
                                   ("open", "High", "lOw", "Close", "volume")])
def test_price_columns_case_insensitive_and_symbol_too(tmp_path: Path, names: tuple[str, ...]) -> None:
    p = prices()
    cols = {"Date": MS, **dict(zip(names, p.values(), strict=True)), "Symbol": ["ETH"] * 4}
    src = open_candles(write(tmp_path / "x.parquet", pa.table(cols)))
    assert src.symbols() == ["ETH"] and not src.symbol_from_file_stem
    np.testing.assert_array_equal(next(src.iter_chunks("ETH")).close, p["close"])


def test_adj_close_is_not_close(tmp_path: Path) -> None:
    p = prices()
    cols = {"Date": MS, "Open": p["open"], "High": p["high"], "Low": p["low"], "Adj Close": p["close"],
            "Volume": p["volume"]}
    with pytest.raises(DataError, match="missing required column 'close'") as info:
        open_candles(write(tmp_path / "x.csv", pa.table(cols)))
    assert info.value.column == "close"
    # beside a real Close it is simply another column
    cols["Close"] = p["close"] + 1
    src = open_candles(write(tmp_path / "y.csv", pa.table(cols)))
    np.testing.assert_array_equal(next(src.iter_chunks("y")).close, p["close"] + 1)


@pytest.mark.parametrize(("a", "b"), [("timestamp", "date"), ("Date", "Time"), ("open_time", "datetime"),
                                      ("timestamp", "Timestamp")])
def test_two_timestamp_candidates_is_an_error_naming_both(tmp_path: Path, a: str, b: str) -> None:
    cols = {a: MS, b: MS, **prices()}
    with pytest.raises(DataError) as info:
        open_candles(write(tmp_path / "x.parquet", pa.table(cols)))
    assert f"'{a}'" in str(info.value) and f"'{b}'" in str(info.value) and "timestamp" in str(info.value)


def test_two_close_columns_differing_in_case(tmp_path: Path) -> None:
    cols = {"timestamp": MS, **prices(), "Close": prices()["close"]}
    with pytest.raises(DataError, match="'close' and 'Close'"):
        open_candles(write(tmp_path / "x.parquet", pa.table(cols)))


def test_no_symbol_column_uses_the_file_stem(tmp_path: Path) -> None:
    src = open_candles(write(tmp_path / "SOLUSD-1h.parquet", pa.table({"timestamp": MS, **prices()})))
    assert src.symbols() == ["SOLUSD-1h"] and src.symbol_from_file_stem


# ------------------------------------------------------------------------------------- timestamps
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".feather"])
@pytest.mark.parametrize(("factor", "unit"), [(1, "s"), (1000, "ms"), (10**6, "us"), (10**9, "ns")])
def test_integer_units_from_magnitude(tmp_path: Path, suffix: str, factor: int, unit: str) -> None:
    got, label = timestamps(write(tmp_path / f"x{suffix}", pa.table({"timestamp": SECS * factor, **prices()})))
    np.testing.assert_array_equal(got, MS)
    assert label == unit


@pytest.mark.parametrize(("factor", "unit"), [(1, "s"), (1000, "ms"), (10**6, "us"), (10**9, "ns")])
def test_forced_unit(tmp_path: Path, factor: int, unit: str) -> None:
    # 1970-era values would be read as seconds from their magnitude; forcing says what they are.
    raw = np.array([0, 60, 120, 180], dtype=np.int64) * factor
    got, label = timestamps(write(tmp_path / "x.parquet", pa.table({"timestamp": raw, **prices()})),
                            timestamp_unit=unit)
    np.testing.assert_array_equal(got, [0, 60_000, 120_000, 180_000])
    assert label == unit


def test_bad_forced_unit_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.parquet", pa.table({"timestamp": MS, **prices()}))
    with pytest.raises(ConfigError, match="timestamp_unit"):
        open_candles(path, timestamp_unit="minutes")


def test_seconds_file_is_never_read_as_ms(tmp_path: Path) -> None:
    # The bug the contract names: epoch seconds read as ms gave trades in 1970.
    got, _ = timestamps(write(tmp_path / "x.csv", pa.table({"timestamp": SECS, **prices()})))
    assert dt.datetime.fromtimestamp(got[0] / 1000, dt.UTC).year == 2024


ISO_FORMS = [
    (["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z"], "zulu"),
    (["2024-01-01T00:00:00", "2024-01-01T00:01:00", "2024-01-01 00:02:00", "2024-01-01T00:03:00.000"], "naive"),
    (["2024-01-01T01:00:00+01:00", "2023-12-31T19:01:00-05:00", "2024-01-01T00:02:00Z",
      "2024-01-01T00:03:00"], "mixed"),
]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize(("values", "form"), ISO_FORMS, ids=[f for _, f in ISO_FORMS])
def test_iso_strings_with_and_without_zone(tmp_path: Path, suffix: str, values: list[str], form: str) -> None:
    got, label = timestamps(write(tmp_path / f"x{suffix}", pa.table({"timestamp": values, **prices()})))
    np.testing.assert_array_equal(got, MS)
    assert label in ("iso8601", "arrow[s, UTC]", "arrow[s]")


@pytest.mark.parametrize(("unit", "tz"), [("s", None), ("ms", "UTC"), ("us", "Europe/Berlin"), ("ns", "Asia/Tokyo")])
def test_arrow_timestamps_give_the_same_ms_and_are_labelled(tmp_path: Path, unit: str, tz: str | None) -> None:
    factor = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[unit]
    col = pa.array(SECS * factor, pa.timestamp(unit, tz=tz))
    got, label = timestamps(write(tmp_path / "x.feather", pa.table({"Date": col, **prices()})))
    np.testing.assert_array_equal(got, MS)
    assert label == (f"arrow[{unit}, {tz}]" if tz else f"arrow[{unit}]")


def test_integer_strings_are_integers_and_a_stray_text_names_its_row(tmp_path: Path) -> None:
    got, label = timestamps(write(tmp_path / "x.parquet", pa.table({"timestamp": [str(s) for s in SECS], **prices()})))
    np.testing.assert_array_equal(got, MS)
    assert label == "s"
    vals = [str(v) for v in MS]
    vals[2] = "2024-01-01T00:02:00Z"
    with pytest.raises(DataError, match="not an integer") as info:
        open_candles(write(tmp_path / "y.parquet", pa.table({"timestamp": vals, **prices()})))
    assert (info.value.row, info.value.column) == (3, "timestamp")


def test_unparseable_iso_names_row_and_column(tmp_path: Path) -> None:
    vals = ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "soon", "2024-01-01T00:03:00Z"]
    with pytest.raises(DataError, match="cannot parse timestamp 'soon'") as info:
        open_candles(write(tmp_path / "x.parquet", pa.table({"Date": vals, **prices()})))
    assert (info.value.row, info.value.column) == (3, "Date")


# ---------------------------------------------------------------------------------- alerts' times
@pytest.mark.parametrize(("factor", "unit"), [(1, "s"), (1000, "ms"), (10**6, "us"), (10**9, "ns")])
def test_alert_integer_units_from_magnitude(tmp_path: Path, factor: int, unit: str) -> None:
    t = pa.table({"ID": ["a", "b"], "Time": SECS[:2] * factor, "Symbol": ["X", "X"]})
    pq.write_table(t, tmp_path / "a.parquet")
    got = load_alerts(tmp_path / "a.parquet")
    assert [a.timestamp for a in got] == MS[:2].tolist() and got.timestamp_unit == unit
    forced = load_alerts(tmp_path / "a.parquet", timestamp_unit="ms")
    assert [a.timestamp for a in forced] == (SECS[:2] * factor).tolist()


def test_alert_iso_strings(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,date,symbol\n1,2024-01-01T01:00:00+01:00,X\n2,2024-01-01T00:01:00,X\n")
    got = load_alerts(tmp_path / "a.csv")
    assert [a.timestamp for a in got] == MS[:2].tolist() and got.timestamp_unit == "iso8601"
    (tmp_path / "b.csv").write_text("id,date,symbol\n1,2024-01-01T00:00:00Z,X\n2,2024-01-01T00:01:00Z,X\n")
    got = load_alerts(tmp_path / "b.csv")
    assert [a.timestamp for a in got] == MS[:2].tolist() and got.timestamp_unit == "iso8601"


# --------------------------------------------------------------------------------------- refusals
def table_with(col: str, row: int, value: Any, *, symbol: list[str] | None = None) -> pa.Table:
    d: dict[str, Any] = {"timestamp": (1_704_067_200_000 + np.arange(8) * 60_000).tolist(),
                         **{k: v.tolist() for k, v in prices(8).items()}}
    if symbol is not None:
        d["symbol"] = symbol
    d[col][row - 1] = value
    return pa.table(d)


BAD = [
    ("close", 0.0, "zero"),
    ("open", 0.0, "zero"),
    ("low", -1.0, "negative"),
    ("high", float("nan"), "NaN|missing"),
    ("close", float("inf"), "infinite"),
    ("close", float("-inf"), "infinite"),
    ("open", None, "missing value"),
    ("volume", -0.5, "negative"),
    ("volume", float("nan"), "NaN|missing"),
    ("high", 50.0, "below low"),
    ("timestamp", None, "missing timestamp"),
    ("timestamp", 1_704_067_200_000, "duplicate timestamp"),
]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".feather"])
@pytest.mark.parametrize(("col", "value", "match"), BAD, ids=[f"{c}={v}" for c, v, _ in BAD])
def test_bad_data_refused_at_open_naming_file_row_column(tmp_path: Path, suffix: str, col: str, value: Any,
                                                         match: str) -> None:
    path = write(tmp_path / f"x{suffix}", table_with(col, 6, value))
    with pytest.raises(DataError, match=match) as info:
        open_candles(path, validate=False)  # nothing streamed: refused when opened
    err = info.value
    assert (err.file, err.row, err.column, err.code) == (str(path), 6, col, "DATA_INVALID")


def test_zero_volume_is_fine(tmp_path: Path) -> None:
    open_candles(write(tmp_path / "x.parquet", table_with("volume", 3, 0.0)))


def test_bad_value_names_the_files_own_column_name(tmp_path: Path) -> None:
    t = table_with("close", 4, 0.0).rename_columns(["Date", "Open", "High", "Low", "Close", "Volume"])
    with pytest.raises(DataError) as info:
        open_candles(write(tmp_path / "x.parquet", t))
    assert (info.value.row, info.value.column) == (4, "Close")


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_empty_or_null_symbol(tmp_path: Path, bad: str | None) -> None:
    syms: list[str | None] = ["A", "B"] * 4
    syms[4] = bad
    t = table_with("volume", 1, 1.0, symbol=syms)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="symbol") as info:
        open_candles(write(tmp_path / "x.parquet", t))
    assert (info.value.row, info.value.column) == (5, "symbol")


def test_duplicate_of_an_unsorted_symbol_found_at_open(tmp_path: Path) -> None:
    ts = (1_704_067_200_000 + np.array([5, 1, 3, 2, 4, 3, 0, 6]) * 60_000).tolist()  # rows 3 and 6 share a time
    d = {"timestamp": ts, **{k: v.tolist() for k, v in prices(8).items()}}
    with pytest.raises(DataError, match="duplicate timestamp") as info:
        open_candles(write(tmp_path / "x.parquet", pa.table(d)))
    assert (info.value.row, info.value.column) == (6, "timestamp")
    assert "also at row 3" in str(info.value)


def test_sub_millisecond_distinct_times_collapse_to_a_duplicate(tmp_path: Path) -> None:
    ns = SECS[0] * 10**9 + np.array([0, 10**6, 10**6 + 5, 3 * 10**6], dtype=np.int64)
    with pytest.raises(DataError, match="duplicate") as info:
        open_candles(write(tmp_path / "x.parquet", pa.table({"timestamp": ns, **prices()})))
    assert info.value.row == 3


@pytest.mark.parametrize(("col", "value", "match"), [("price", 0, "must be a finite number > 0"),
                                                     ("price", -2.5, "must be a finite number > 0"),
                                                     ("Symbol", "  ", "non-empty"),
                                                     ("Symbol", None, "missing")])
def test_bad_alerts_name_file_row_column(tmp_path: Path, col: str, value: Any, match: str) -> None:
    import json

    rows: list[dict[str, Any]] = [{"id": str(i), "timestamp": int(MS[i]), "Symbol": "X", "price": 10.0}
                                  for i in range(4)]
    rows[2][col] = value
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=match) as info:
        load_alerts(path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 3, col)


def test_alerts_come_in_stream_order_across_symbols(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        f"id,timestamp,symbol\nz,{MS[2]},A\ny,{MS[0]},B\nx,{MS[2]},B\nw,{MS[0]},A\nv,{MS[1]},C\n")
    assert [a.id for a in load_alerts(tmp_path / "a.csv")] == ["y", "w", "v", "z", "x"]


@pytest.mark.parametrize("stats", [True, False])
@pytest.mark.parametrize(("factor", "unit"), [(1, "s"), (10**9, "ns")])
def test_parquet_unit_from_statistics_or_a_read(tmp_path: Path, stats: bool, factor: int, unit: str) -> None:
    # Statistics of every row group spare the read; without statistics the column is read.
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"timestamp": SECS * factor, **prices()}), path, row_group_size=1, write_statistics=stats)
    got, label = timestamps(path)
    np.testing.assert_array_equal(got, MS)
    assert label == unit


def test_na_is_a_ticker_not_a_missing_value_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,open,high,low,close,volume,symbol\n"
                    f"{MS[0]},1,2,0.5,1.5,10,NA\n{MS[0]},1,2,0.5,1.5,10,N/A\n{MS[1]},1,2,0.5,1.5,10,NA\n")
    assert open_candles(path).symbols() == ["N/A", "NA"]
    (tmp_path / "a.csv").write_text(f"id,timestamp,symbol,price\nNA,{MS[0]},NA,\n")
    (alert,) = load_alerts(tmp_path / "a.csv")
    assert (alert.id, alert.symbol, alert.price) == ("NA", "NA", None)
