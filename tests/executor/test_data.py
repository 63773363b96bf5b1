"""Candle/alert loading: formats, timestamp units, symbols, sorting, and every validation case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from plughost.errors import DataError
from plughost.executor.data import AlertRecord, CandleChunk, load_alerts, open_candles

T0 = 1_704_067_200_000


def candles(n: int = 10, start: int = T0, step: int = 60_000, base: float = 100.0) -> dict[str, Any]:
    close = base + np.arange(n, dtype=np.float64)
    return {
        "timestamp": start + np.arange(n, dtype=np.int64) * step,
        "open": close - 0.5,
        "high": close + 1.0,
        "low": close - 1.0,
        "close": close,
        "volume": np.full(n, 3.0),
    }


def write(path: Path, table: pa.Table) -> Path:
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".feather":
        feather.write_feather(table, path)
    elif suffix == ".arrow":  # stream format (".feather" above is the file format)
        with pa.OSFile(str(path), "wb") as fh, pa.ipc.new_stream(fh, table.schema) as w:
            w.write_table(table)
    elif suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        raise AssertionError(suffix)
    return path


def collect(src: Any, symbol: str, rows: int = 65536) -> dict[str, np.ndarray]:
    chunks = list(src.iter_chunks(symbol, rows=rows))
    assert all(isinstance(c, CandleChunk) for c in chunks)
    return {
        k: np.concatenate([getattr(c, k) for c in chunks])
        for k in ("timestamp", "open", "high", "low", "close", "volume")
    }


def raises(path: Path, match: str, *, row: int | None, column: str | None, validate: bool = True) -> DataError:
    with pytest.raises(DataError, match=match) as info:
        src = open_candles(path, validate=validate)
        for sym in src.symbols():
            list(src.iter_chunks(sym))
    err = info.value
    assert err.file == str(path)
    assert err.row == row, str(err)
    assert err.column == column, str(err)
    assert err.code == "DATA_INVALID"
    return err


# ----------------------------------------------------------------------------------------- formats
@pytest.mark.parametrize("suffix", [".parquet", ".feather", ".arrow", ".csv"])
def test_each_format_round_trips(tmp_path: Path, suffix: str) -> None:
    data = candles(50)
    path = write(tmp_path / f"ETH{suffix}", pa.table(data))
    src = open_candles(path)
    assert src.symbols() == ["ETH"]  # no symbol column: the file stem
    assert src.count("ETH") == 50
    got = collect(src, "ETH", rows=7)
    for k, v in data.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == (np.int64 if k == "timestamp" else np.float64)


def test_chunks_have_exact_sizes_offsets_and_contiguous_arrays(tmp_path: Path) -> None:
    path = write(tmp_path / "x.parquet", pa.table(candles(100)))
    chunks = list(open_candles(path).iter_chunks("x", rows=30))
    assert [(len(c), c.offset) for c in chunks] == [(30, 0), (30, 30), (30, 60), (10, 90)]
    for c in chunks:
        for k in ("timestamp", "open", "high", "low", "close", "volume"):
            assert getattr(c, k).flags.c_contiguous


def test_extra_columns_are_ignored_and_numeric_types_widen(tmp_path: Path) -> None:
    d = candles(5)
    table = pa.table({
        "note": ["a"] * 5,
        "timestamp": pa.array(d["timestamp"]),
        "open": pa.array(d["open"], pa.float32()),
        "high": pa.array(d["high"]),
        "low": pa.array(d["low"]),
        "close": pa.array(d["close"].astype(np.int64)),
        "volume": pa.array([1, 2, 3, 4, 5], pa.int16()),
    })
    got = collect(open_candles(write(tmp_path / "x.parquet", table)), "x")
    np.testing.assert_array_equal(got["volume"], [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(got["close"], d["close"])


@pytest.mark.parametrize(
    ("unit", "tz", "factor"),
    [("s", None, 1), ("ms", "UTC", 1_000), ("us", "Europe/Berlin", 1_000_000), ("ns", "America/New_York", 10**9)],
)
def test_arrow_timestamps_of_any_unit_and_tz_become_ms_utc(tmp_path: Path, unit: str, tz: str | None,
                                                           factor: int) -> None:
    secs = np.array([1_704_067_200, 1_704_067_260, 1_704_067_320], dtype=np.int64)
    d = candles(3)
    d["timestamp"] = pa.array(secs * factor, pa.timestamp(unit, tz=tz))
    got = collect(open_candles(write(tmp_path / "x.parquet", pa.table(d))), "x")
    np.testing.assert_array_equal(got["timestamp"], secs * 1000)


def test_sub_millisecond_timestamps_floor_to_the_millisecond(tmp_path: Path) -> None:
    d = candles(2)
    d["timestamp"] = pa.array([1_704_067_200_000_999_999, 1_704_067_200_001_000_000], pa.timestamp("ns"))
    got = collect(open_candles(write(tmp_path / "x.parquet", pa.table(d))), "x")
    np.testing.assert_array_equal(got["timestamp"], [1_704_067_200_000, 1_704_067_200_001])


def test_csv_iso_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,open,high,low,close,volume\n"
                    "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01T00:01:00Z,1,2,0.5,1.5,10\n")
    got = collect(open_candles(path), "x")
    np.testing.assert_array_equal(got["timestamp"], [T0, T0 + 60_000])


# ------------------------------------------------------------------------------------ multi-symbol
def multi_table(order: str = "interleaved") -> tuple[pa.Table, dict[str, dict[str, np.ndarray]]]:
    per = {s: candles(40, base=b) for s, b in (("BTC", 1000.0), ("ETH", 100.0), ("SOL", 10.0))}
    parts = []
    for s, d in per.items():
        parts.append(pa.table({**d, "symbol": [s] * 40}))
    table = pa.concat_tables(parts)
    if order == "interleaved":
        table = table.sort_by([("timestamp", "ascending")])
    return table, per


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".feather", ".arrow"])
@pytest.mark.parametrize("order", ["interleaved", "blocks"])
def test_multi_symbol_files_stream_each_symbol(tmp_path: Path, suffix: str, order: str) -> None:
    table, per = multi_table(order)
    src = open_candles(write(tmp_path / f"m{suffix}", table))
    assert src.symbols() == ["BTC", "ETH", "SOL"]
    for sym, d in per.items():
        assert src.count(sym) == 40
        assert src.is_sorted(sym)
        got = collect(src, sym, rows=9)
        for k, v in d.items():
            np.testing.assert_array_equal(got[k], v)


def test_symbol_column_overrides_stem_and_unknown_symbol_is_keyerror(tmp_path: Path) -> None:
    table, _ = multi_table()
    src = open_candles(write(tmp_path / "m.parquet", table))
    with pytest.raises(KeyError, match="NOPE"):
        src.iter_chunks("NOPE")


# ----------------------------------------------------------------------------------------- sorting
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_unsorted_input_is_sorted(tmp_path: Path, suffix: str) -> None:
    d = candles(100)
    perm = np.random.default_rng(1).permutation(100)
    table = pa.table({k: v[perm] for k, v in d.items()})
    src = open_candles(write(tmp_path / f"u{suffix}", table))
    assert not src.is_sorted("u")
    chunks = list(src.iter_chunks("u", rows=33))
    assert [(len(c), c.offset) for c in chunks] == [(33, 0), (33, 33), (33, 66), (1, 99)]
    got = collect(src, "u")
    for k, v in d.items():
        np.testing.assert_array_equal(got[k], v)


def test_one_unsorted_symbol_among_sorted_ones(tmp_path: Path) -> None:
    table, per = multi_table()
    rows = table.to_pylist()
    eth = [i for i, r in enumerate(rows) if r["symbol"] == "ETH"]
    rows[eth[3]], rows[eth[30]] = rows[eth[30]], rows[eth[3]]
    src = open_candles(write(tmp_path / "m.parquet", pa.Table.from_pylist(rows)))
    assert [src.is_sorted(s) for s in src.symbols()] == [True, False, True]
    np.testing.assert_array_equal(collect(src, "ETH")["close"], per["ETH"]["close"])


# -------------------------------------------------------------------------------------- validation
def test_missing_file(tmp_path: Path) -> None:
    raises(tmp_path / "nope.parquet", "not found", row=None, column=None)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet")
    raises(path, "not a valid", row=None, column=None)


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"whatever")
    err = raises(path, "unsupported file format", row=None, column=None)
    assert "Parquet" in str(err)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("col", ["timestamp", "open", "high", "low", "close", "volume"])
def test_missing_column(tmp_path: Path, suffix: str, col: str) -> None:
    d = candles(5)
    del d[col]
    path = write(tmp_path / f"x{suffix}", pa.table(d))
    raises(path, f"missing required column '{col}'", row=None, column=col, validate=False)


def test_string_price_in_csv_names_row(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    lines = ["timestamp,open,high,low,close,volume"] + [f"{T0 + i * 60000},1,2,0.5,1.5,10" for i in range(20)]
    lines[8] = f"{T0 + 7 * 60000},1,2,0.5,abc,10"  # data row 8
    path.write_text("\n".join(lines) + "\n")
    raises(path, "wrong type.*abc", row=8, column="close", validate=False)


def test_string_price_in_csv_after_the_first_block(tmp_path: Path) -> None:
    # Arrow infers CSV types from the first block; a bad value far below must still name its row.
    n = 120_000
    path = tmp_path / "x.csv"
    body = [f"{T0 + i * 60000},1,2,0.5,1.5,10" for i in range(n)]
    body[100_000] = f"{T0 + 100_000 * 60000},1,2,0.5,1.5,lots"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(body) + "\n")
    raises(path, "wrong type", row=100_001, column="volume", validate=False)


def test_string_price_in_parquet(tmp_path: Path) -> None:
    d = candles(5)
    d["high"] = ["101", "102", "n/a", "104", "105"]
    raises(write(tmp_path / "x.parquet", pa.table(d)), "wrong type.*'n/a'", row=3, column="high", validate=False)


def test_string_timestamp_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f"timestamp,open,high,low,close,volume\n{T0},1,2,0.5,1.5,10\nyesterday,1,2,0.5,1.5,10\n")
    raises(path, "wrong type.*timestamp", row=2, column="timestamp", validate=False)


def test_float_timestamp_is_wrong_type(tmp_path: Path) -> None:
    d = candles(3)
    d["timestamp"] = d["timestamp"].astype(np.float64) + 0.5
    raises(write(tmp_path / "x.parquet", pa.table(d)), "wrong type", row=1, column="timestamp", validate=False)


def test_wrong_symbol_type(tmp_path: Path) -> None:
    d = candles(3)
    d["symbol"] = [1, 2, 3]
    raises(write(tmp_path / "x.parquet", pa.table(d)), "wrong type", row=1, column="symbol", validate=False)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".feather"])
@pytest.mark.parametrize(
    ("col", "value", "match"),
    [
        ("close", float("nan"), "NaN|missing value"),  # CSV has no NaN distinct from empty
        ("open", None, "missing value"),
        ("low", -1.0, "negative"),
        ("volume", -5.0, "negative"),
        ("high", float("inf"), "infinite"),
        ("high", 90.0, r"high \(90.0\) is below low"),
    ],
)
def test_bad_values_name_file_row_column(tmp_path: Path, suffix: str, col: str, value: float | None,
                                         match: str) -> None:
    d = {k: (v.tolist()) for k, v in candles(12).items()}
    d[col][6] = value  # data row 7
    path = write(tmp_path / f"x{suffix}", pa.table(d))
    raises(path, match, row=7, column=col, validate=True)


def test_bad_value_refused_at_open_even_without_validate(tmp_path: Path) -> None:
    # Was: raised mid-stream after the first chunks. The contract wants bad data refused before the run.
    d = candles(200_000)
    d["close"][150_000] = np.nan
    with pytest.raises(DataError) as info:
        open_candles(write(tmp_path / "x.parquet", pa.table(d)), validate=False)
    assert (info.value.row, info.value.column) == (150_001, "close")


def test_bad_value_in_multi_symbol_file_names_the_original_row(tmp_path: Path) -> None:
    table, _ = multi_table()  # interleaved BTC, ETH, SOL
    rows = table.to_pylist()
    eth = [i for i, r in enumerate(rows) if r["symbol"] == "ETH"]
    rows[eth[10]]["low"] = -3.0
    path = write(tmp_path / "m.parquet", pa.Table.from_pylist(rows))
    raises(path, "negative", row=eth[10] + 1, column="low")


def test_bad_value_in_unsorted_symbol_names_the_original_row(tmp_path: Path) -> None:
    d = candles(30)
    perm = np.random.default_rng(5).permutation(30)
    cols = {k: v[perm] for k, v in d.items()}
    cols["high"][17] = cols["low"][17] - 1
    raises(write(tmp_path / "u.parquet", pa.table(cols)), "below low", row=18, column="high")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_duplicate_timestamp_sorted(tmp_path: Path, suffix: str) -> None:
    d = candles(10)
    d["timestamp"][5] = d["timestamp"][4]
    err = raises(write(tmp_path / f"x{suffix}", pa.table(d)), "duplicate timestamp", row=6, column="timestamp",
                 validate=False)
    assert "also at row 5" in str(err)


def test_duplicate_timestamp_unsorted(tmp_path: Path) -> None:
    d = candles(10)
    d["timestamp"] = d["timestamp"][::-1].copy()
    d["timestamp"][8] = d["timestamp"][1]  # rows 2 and 9 share a timestamp
    err = raises(write(tmp_path / "x.parquet", pa.table(d)), "duplicate timestamp", row=9, column="timestamp")
    assert "also at row 2" in str(err)


def test_duplicate_timestamps_across_symbols_are_fine(tmp_path: Path) -> None:
    table, _ = multi_table()
    assert open_candles(write(tmp_path / "m.parquet", table), validate=True).symbols() == ["BTC", "ETH", "SOL"]


def test_duplicate_within_one_symbol_of_many(tmp_path: Path) -> None:
    table, _ = multi_table()
    rows = table.to_pylist()
    sol = [i for i, r in enumerate(rows) if r["symbol"] == "SOL"]
    rows[sol[21]]["timestamp"] = rows[sol[20]]["timestamp"]
    err = raises(write(tmp_path / "m.parquet", pa.Table.from_pylist(rows)), "duplicate.*'SOL'",
                 row=sol[21] + 1, column="timestamp", validate=False)
    assert f"also at row {sol[20] + 1}" in str(err)


def test_null_timestamp_and_null_symbol(tmp_path: Path) -> None:
    d: dict[str, Any] = {k: v.tolist() for k, v in candles(5).items()}
    d["timestamp"][3] = None
    raises(write(tmp_path / "a.parquet", pa.table(d)), "missing timestamp", row=4, column="timestamp",
           validate=False)
    d = {k: v.tolist() for k, v in candles(5).items()}
    d["symbol"] = ["A", "A", None, "A", "A"]
    raises(write(tmp_path / "b.parquet", pa.table(d)), "missing symbol", row=3, column="symbol", validate=False)


def test_empty_file(tmp_path: Path) -> None:
    raises(write(tmp_path / "e.parquet", pa.table(candles(0))), "no candles", row=None, column=None)


def test_bundled_sample_data_is_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "data" / "sample"
    one = open_candles(root / "BTCUSD-1m.parquet", validate=True)
    assert one.symbols() == ["BTCUSD"] and one.count("BTCUSD") == 5000
    multi = open_candles(root / "multi-1h.csv", validate=True)
    assert [multi.count(s) for s in multi.symbols()] == [1000, 1000, 1000]
    alerts = load_alerts(root / "alerts.jsonl")
    assert {a.symbol for a in alerts} == {"BTCUSD"} and len(alerts) == 50
    assert any(a.price is None for a in alerts) and any(a.price for a in alerts)
    assert all("score" in a.data for a in alerts)
    for chunk in one.iter_chunks("BTCUSD"):
        assert (chunk.high >= np.maximum(chunk.open, chunk.close)).all()
        assert (chunk.low <= np.minimum(chunk.open, chunk.close)).all()


# ------------------------------------------------------------------------------------------ alerts
ALERTS = [
    {"id": "a1", "timestamp": T0 + 5, "symbol": "BTC", "price": 101.5, "score": 0.5, "tag": "x"},
    {"id": "a2", "timestamp": T0, "symbol": "BTC", "price": None, "score": -1.0, "tag": "y"},
    {"id": "a3", "timestamp": T0, "symbol": "ETH", "price": 50.0, "score": 0.0, "tag": None},
    {"id": "a4", "timestamp": T0 + 5, "symbol": "BTC", "price": float("nan"), "score": 2.0, "tag": "z"},
]


def by_symbol(alerts: list[AlertRecord]) -> dict[str, list[AlertRecord]]:
    out: dict[str, list[AlertRecord]] = {}
    for a in alerts:
        out.setdefault(a.symbol, []).append(a)
    return out


def write_alerts(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        write(path, pa.Table.from_pylist(rows))
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json", ".jsonl"])
def test_alerts_round_trip(tmp_path: Path, suffix: str) -> None:
    flat = load_alerts(write_alerts(tmp_path / f"alerts{suffix}", ALERTS))
    # one list in stream order: time, then file order
    assert [a.id for a in flat] == ["a2", "a3", "a1", "a4"]
    out = by_symbol(flat)
    assert sorted(out) == ["BTC", "ETH"]
    btc = out["BTC"]
    assert [a.id for a in btc] == ["a2", "a1", "a4"]  # by timestamp, stable among ties
    assert [a.timestamp for a in btc] == [T0, T0 + 5, T0 + 5]
    assert [a.price for a in btc] == [None, 101.5, None]
    assert btc[0].data == {"score": -1.0, "tag": "y"}
    assert out["ETH"][0].data == {"score": 0.0, "tag": None}
    json.dumps([a.data for a in btc], allow_nan=False)


def test_alert_ids_become_strings_and_keep_zeros(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"id,timestamp,symbol\n007,{T0},BTC\n8,{T0 + 1},BTC\n")
    assert [a.id for a in load_alerts(path)] == ["007", "8"]
    out = load_alerts(write_alerts(tmp_path / "a.json", [{"id": 7, "timestamp": T0, "symbol": "X"}]))
    assert out[0].id == "7"


def test_alert_timestamps_of_any_form(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"id": "1", "timestamp": "2024-01-01T00:00:00Z", "symbol": "X"},
        {"id": "2", "timestamp": "2024-01-01T01:00:00+01:00", "symbol": "X"},
        {"id": "3", "timestamp": str(T0 + 1), "symbol": "X"},
        {"id": "4", "timestamp": float(T0 + 2), "symbol": "X"},
    ]
    out = load_alerts(write_alerts(tmp_path / "a.jsonl", rows))
    assert [a.timestamp for a in out] == [T0, T0, T0 + 1, T0 + 2]
    assert out.timestamp_unit == "ms, iso8601"
    table = pa.table({"id": ["1"], "symbol": ["X"],
                      "timestamp": pa.array([T0 * 1_000_000 + 999_999], pa.timestamp("ns", tz="Asia/Tokyo"))})
    pq.write_table(table, tmp_path / "a.parquet")
    got = load_alerts(tmp_path / "a.parquet")
    assert got[0].timestamp == T0 and got.timestamp_unit == "arrow[ns, Asia/Tokyo]"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json", ".jsonl"])
@pytest.mark.parametrize("col", ["id", "timestamp", "symbol"])
def test_alerts_missing_required_column(tmp_path: Path, suffix: str, col: str) -> None:
    rows = [{k: v for k, v in r.items() if k != col} for r in ALERTS]
    with pytest.raises(DataError, match=f"missing required column '{col}'") as info:
        load_alerts(write_alerts(tmp_path / f"a{suffix}", rows))
    assert (info.value.column, info.value.file) == (col, str(tmp_path / f"a{suffix}"))


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_alerts_bad_timestamp_names_row(tmp_path: Path, suffix: str) -> None:
    rows = [dict(r) for r in ALERTS]
    rows[2]["timestamp"] = "not a time"
    for r in rows:
        r["timestamp"] = str(r["timestamp"])
    with pytest.raises(DataError, match="cannot parse timestamp") as info:
        load_alerts(write_alerts(tmp_path / f"a{suffix}", rows))
    # JSON: 3rd object; JSON Lines: line 3; CSV: data row 3
    assert (info.value.row, info.value.column) == (3, "timestamp")


def test_alerts_bad_price_and_missing_value(tmp_path: Path) -> None:
    rows = [dict(r) for r in ALERTS]
    rows[1]["price"] = "cheap"
    with pytest.raises(DataError) as info:
        load_alerts(write_alerts(tmp_path / "a.json", rows))
    assert (info.value.row, info.value.column) == (2, "price")
    rows = [dict(r) for r in ALERTS]
    del rows[3]["symbol"]
    with pytest.raises(DataError, match="missing symbol") as info:
        load_alerts(write_alerts(tmp_path / "b.jsonl", rows))
    assert (info.value.row, info.value.column) == (4, "symbol")


def test_alerts_invalid_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ALERTS[0]) + "\n\n{oops\n")
    with pytest.raises(DataError, match="invalid JSON") as info:
        load_alerts(path)
    assert info.value.row == 3


def test_empty_alert_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b.jsonl").write_text("")
    assert load_alerts(tmp_path / "a.json") == [] and load_alerts(tmp_path / "b.jsonl") == []
