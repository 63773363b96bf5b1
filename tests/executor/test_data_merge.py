"""The merged stream: every symbol in (timestamp, symbol name) order, in exact chunks, any file layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plughost.executor.data import MergedChunk, open_candles

T0 = 1_704_067_200_000
NAMES = ["ETH", "BTC", "SOL"]  # file order differs from name order on purpose


def three_symbols(seed: int = 0, n: int = 300) -> pa.Table:
    """Interleaved symbols, each with its own gaps (missing timestamps) and some shared times."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, name in enumerate(NAMES):
        minutes = np.sort(rng.choice(2 * n, size=n - 37 * k, replace=False))
        close = 10.0 ** (k + 1) + rng.random(len(minutes))
        parts.append(pa.table({
            "timestamp": T0 + minutes.astype(np.int64) * 60_000, "open": close, "high": close + 1,
            "low": close - 1, "close": close, "volume": rng.random(len(minutes)), "symbol": [name] * len(minutes),
        }))
    return pa.concat_tables(parts)


def layout(table: pa.Table, how: str, seed: int = 1) -> pa.Table:
    if how == "time_sorted":  # the usual multi-symbol file: rows in time order, symbols mixed
        perm = np.random.default_rng(seed).permutation(table.num_rows)
        t = table.take(perm)
        return t.take(np.argsort(t.column("timestamp").to_numpy(), kind="stable"))
    if how == "blocks":  # one symbol after another, each sorted
        return table
    perm = np.random.default_rng(seed).permutation(table.num_rows)  # "shuffled": nothing sorted
    return table.take(perm)


def reference(table: pa.Table) -> dict[str, np.ndarray]:
    names = sorted(NAMES)
    sym = np.array([names.index(s) for s in table.column("symbol").to_pylist()], dtype=np.int32)
    ts = table.column("timestamp").to_numpy()
    order = np.lexsort((sym, ts))
    out = {k: table.column(k).to_numpy()[order] for k in ("timestamp", "open", "high", "low", "close", "volume")}
    out["symbol"] = sym[order]
    last = np.zeros(len(order), dtype=bool)
    for k in range(len(names)):
        last[np.flatnonzero(out["symbol"] == k)[-1]] = True
    out["last_of_symbol"] = last
    return out


def collect(chunks: list[MergedChunk]) -> dict[str, np.ndarray]:
    keys = ("timestamp", "open", "high", "low", "close", "volume", "symbol", "last_of_symbol")
    return {k: np.concatenate([getattr(c, k) for c in chunks]) for k in keys}


@pytest.mark.parametrize("in_memory", [True, False], ids=["small", "kway"])
@pytest.mark.parametrize("how", ["time_sorted", "blocks", "shuffled"])
@pytest.mark.parametrize("rows", [1, 7, 64, 299, 100_000])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_merged_order_equals_a_lexsort_of_the_whole_table(tmp_path: Path, how: str, rows: int, suffix: str,
                                                          in_memory: bool) -> None:
    table = layout(three_symbols(), how)
    path = tmp_path / f"m{suffix}"
    pq.write_table(table, path) if suffix == ".parquet" else pcsv.write_csv(table, path)
    src = open_candles(path)
    if not in_memory:
        src.merge_in_memory_rows = 0  # force the k-way merge of per-symbol streams
    assert src.symbols() == ["BTC", "ETH", "SOL"]
    chunks = list(src.iter_merged(rows=rows))
    want = reference(table)
    got = collect(chunks)
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert got["timestamp"].dtype == np.int64 and got["symbol"].dtype == np.int32
    assert got["last_of_symbol"].dtype == bool and got["close"].dtype == np.float64
    # exact chunk sizes and offsets
    assert all(len(c) == rows for c in chunks[:-1]) and 0 < len(chunks[-1]) <= rows
    assert [c.offset for c in chunks] == list(range(0, table.num_rows, rows))


def test_counts_first_and_last_timestamps(tmp_path: Path) -> None:
    table = layout(three_symbols(), "shuffled")
    pq.write_table(table, tmp_path / "m.parquet")
    src = open_candles(tmp_path / "m.parquet")
    for name in NAMES:
        ts = table.filter(pa.compute.equal(table.column("symbol"), name)).column("timestamp").to_numpy()
        assert src.count(name) == len(ts)
        assert (src.first_timestamp(name), src.last_timestamp(name)) == (ts.min(), ts.max())


@pytest.mark.parametrize("rows", [1, 10, 65536])
def test_single_symbol_merged_is_its_chunks(tmp_path: Path, rows: int) -> None:
    n = 1000
    close = 100 + np.arange(n, dtype=np.float64)
    pq.write_table(pa.table({"timestamp": T0 + np.arange(n, dtype=np.int64) * 60_000, "open": close,
                             "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)}),
                   tmp_path / "one.parquet")
    src = open_candles(tmp_path / "one.parquet")
    merged = list(src.iter_merged(rows=rows))
    plain = list(src.iter_chunks("one", rows=rows))
    assert len(merged) == len(plain)
    for m, p in zip(merged, plain, strict=True):
        assert m.offset == p.offset
        np.testing.assert_array_equal(m.timestamp, p.timestamp)
        np.testing.assert_array_equal(m.close, p.close)
        assert not m.symbol.any()
    last = np.concatenate([m.last_of_symbol for m in merged])
    assert last[-1] and not last[:-1].any()


def test_merged_stream_of_a_blocks_file_stays_in_bounded_buffers(tmp_path: Path) -> None:
    # A k-way merge holds about two chunks a symbol: chunk sizes never exceed `rows`.
    table = layout(three_symbols(n=3000), "blocks")
    pq.write_table(table, tmp_path / "m.parquet")
    src = open_candles(tmp_path / "m.parquet")
    src.merge_in_memory_rows = 0
    chunks = list(src.iter_merged(rows=128))
    assert max(len(c) for c in chunks) == 128
    assert sum(len(c) for c in chunks) == table.num_rows


@pytest.mark.parametrize("how", ["time_sorted", "blocks", "shuffled"])
def test_many_row_groups_are_pruned_by_symbol_and_still_complete(tmp_path: Path, how: str) -> None:
    # Row groups of 50 rows: a symbol's stream skips the groups whose statistics exclude it.
    table = layout(three_symbols(n=400), how)
    pq.write_table(table, tmp_path / "m.parquet", row_group_size=50)
    src = open_candles(tmp_path / "m.parquet")
    src.merge_in_memory_rows = 0
    want = reference(table)
    for rows in (13, 4096):
        got = collect(list(src.iter_merged(rows=rows)))
        for k, v in want.items():
            np.testing.assert_array_equal(got[k], v, err_msg=k)
    for i, name in enumerate(src.symbols()):
        ts = np.concatenate([c.timestamp for c in src.iter_chunks(name, rows=33)])
        np.testing.assert_array_equal(ts, want["timestamp"][want["symbol"] == i])


# --------------------------------------------------------------------------------- property test


@st.composite
def candle_files(draw: st.DrawFn) -> tuple[pa.Table, int, int | None, bool]:
    k = draw(st.integers(1, 5))
    names = draw(st.lists(st.text("ABCXYZ", min_size=1, max_size=3), min_size=k, max_size=k, unique=True))
    parts = []
    for name in names:
        minutes = draw(st.lists(st.integers(0, 60), min_size=1, max_size=40, unique=True))
        c = np.array(draw(st.lists(st.floats(1, 1000), min_size=len(minutes), max_size=len(minutes))))
        parts.append(pa.table({"timestamp": T0 + np.array(minutes, dtype=np.int64) * 60_000, "open": c, "high": c,
                               "low": c, "close": c, "volume": np.zeros(len(c)), "symbol": [name] * len(c)}))
    table = pa.concat_tables(parts)
    how = draw(st.sampled_from(["as_drawn", "time_sorted", "shuffled"]))
    if how == "time_sorted":
        table = table.take(np.argsort(table.column("timestamp").to_numpy(), kind="stable"))
    elif how == "shuffled":
        table = table.take(np.random.default_rng(draw(st.integers(0, 99))).permutation(table.num_rows))
    return table, draw(st.integers(1, 50)), draw(st.sampled_from([None, 7])), draw(st.booleans())


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=candle_files())
def test_merged_stream_property(tmp_path: Path, case: tuple[pa.Table, int, int | None, bool]) -> None:
    table, rows, group, kway = case
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=group)
    src = open_candles(path)
    if kway:
        src.merge_in_memory_rows = 0
    names = sorted(set(table.column("symbol").to_pylist()))
    assert src.symbols() == names
    sym = np.array([names.index(s) for s in table.column("symbol").to_pylist()], dtype=np.int32)
    ts = table.column("timestamp").to_numpy()
    order = np.lexsort((sym, ts))
    chunks = list(src.iter_merged(rows=rows))
    got = collect(chunks)
    np.testing.assert_array_equal(got["timestamp"], ts[order])
    np.testing.assert_array_equal(got["symbol"], sym[order])
    np.testing.assert_array_equal(got["close"], table.column("close").to_numpy()[order])
    assert got["last_of_symbol"].sum() == len(names)
    for i in range(len(names)):
        assert got["last_of_symbol"][np.flatnonzero(got["symbol"] == i)[-1]]
    assert [c.offset for c in chunks] == list(range(0, table.num_rows, rows))
