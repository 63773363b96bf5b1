"""One stream of every symbol, merged by (timestamp, symbol name), in bounded memory.

Three ways in, chosen by `CandleSource.iter_merged`:

* one symbol: its own chunks, relabelled (no sort at all);
* a file whose rows are in time order overall (the usual multi-symbol layout): one read in file order;
  each round emits the rows older than the newest timestamp buffered (rows of that timestamp may go on
  in the next batch) sorted by (timestamp, symbol);
* a file in any other order that is small next to its symbol count (see
  `CandleSource.merge_in_memory_rows`): read once, sorted in memory;
* anything else: a k-way merge of the per-symbol streams. Each round cuts at the smallest "last
  timestamp buffered" among the symbols whose stream still has rows and takes every buffered row at or
  before it: no row still unread can be older, because each symbol's stream is in time order. Memory is
  about two chunks a symbol; the cost is one scan of the file a symbol (a Parquet file skips the row
  groups whose statistics exclude the symbol, so a file written symbol after symbol is read about once).

Every output chunk holds exactly `rows` rows (the last may be shorter), whatever the way in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import F64Array, I64Array

B1Array = np.ndarray[Any, np.dtype[np.bool_]]
I32Array = np.ndarray[Any, np.dtype[np.int32]]


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


@dataclass(frozen=True)
class MergedChunk:
    """A slice of the merged stream of all symbols, in (timestamp, symbol name) order.

    `offset` is the index of its first row in the merged stream; `symbol` indexes `source.symbols()`
    (sorted names); `last_of_symbol` is True at each symbol's final candle of the whole file.
    """

    offset: int
    timestamp: I64Array
    open: F64Array
    high: F64Array
    low: F64Array
    close: F64Array
    volume: F64Array
    symbol: I32Array
    last_of_symbol: B1Array

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])


@dataclass
class Pieces:
    """Re-chunks arbitrarily sized column pieces into pieces of exactly `rows` (the last may be short)."""

    rows: int
    emitted: int = 0
    pieces: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    buffered: int = 0

    def push(self, cols: tuple[np.ndarray, ...]) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
        if len(cols[0]):
            self.pieces.append(cols)
            self.buffered += len(cols[0])
        while self.buffered >= self.rows:
            yield self._take(self.rows)

    def flush(self) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
        if self.buffered:
            yield self._take(self.buffered)

    def _take(self, n: int) -> tuple[int, tuple[np.ndarray, ...]]:
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
        offset = self.emitted
        self.emitted += n
        return offset, out


def _merged(offset: int, cols: tuple[np.ndarray, ...], last_ts: I64Array) -> MergedChunk:
    ts, o, h, lo, c, v, sym = cols
    return MergedChunk(offset, ts, o, h, lo, c, v, sym, ts == last_ts[sym])


def merge_single(chunks: Iterator[CandleChunk], last_ts: int) -> Iterator[MergedChunk]:
    for ch in chunks:
        n = len(ch)
        last = np.zeros(n, dtype=bool)
        if n and int(ch.timestamp[-1]) == last_ts:
            last[-1] = True
        yield MergedChunk(ch.offset, ch.timestamp, ch.open, ch.high, ch.low, ch.close, ch.volume,
                          np.zeros(n, dtype=np.int32), last)


def _take(cols: tuple[np.ndarray, ...], order: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(a[order]) for a in cols)


def _order_time_sorted(cols: tuple[np.ndarray, ...], n_symbols: int) -> tuple[np.ndarray, ...]:
    """Rows already in time order: put the rows of one timestamp in symbol order. The key (timestamp
    rank, symbol) is almost sorted, which a stable sort (timsort) handles in near-linear time."""
    ts, sym = cols[0], cols[6]
    if len(ts) < 2:
        return cols
    key = np.cumsum(np.r_[0, ts[1:] != ts[:-1]]) * n_symbols + sym
    if (key[1:] > key[:-1]).all():
        return cols
    return _take(cols, np.argsort(key, kind="stable"))


def _order_runs(cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Rows as time-ordered runs, one a symbol, in symbol order: a stable sort by time alone gives
    (time, symbol) order, and timsort merges the runs in O(n log k)."""
    ts = cols[0]
    if len(ts) < 2 or ((ts[1:] >= ts[:-1]).all() and (cols[6][1:] >= cols[6][:-1]).all()):
        return cols
    return _take(cols, np.argsort(ts, kind="stable"))


def merge_time_sorted(batches: Iterator[tuple[np.ndarray, ...]], last_ts: I64Array,
                      rows: int) -> Iterator[MergedChunk]:
    """`batches`: (ts, o, h, l, c, v, symbol index) in file order, ts non-decreasing over the file."""
    out = Pieces(rows)
    n_symbols = len(last_ts)
    held: tuple[np.ndarray, ...] | None = None
    for cols in batches:
        if not len(cols[0]):
            continue
        buf = cols if held is None else tuple(np.concatenate([a, b]) for a, b in zip(held, cols, strict=True))
        newest = buf[0][-1]
        cut = int(np.searchsorted(buf[0], newest, side="left"))
        held = tuple(a[cut:] for a in buf)
        if cut:
            for off, piece in out.push(_order_time_sorted(tuple(a[:cut] for a in buf), n_symbols)):
                yield _merged(off, piece, last_ts)
    if held is not None:
        for off, piece in out.push(_order_time_sorted(held, n_symbols)):
            yield _merged(off, piece, last_ts)
    for off, piece in out.flush():
        yield _merged(off, piece, last_ts)


def merge_in_memory(batches: Iterator[tuple[np.ndarray, ...]], last_ts: I64Array,
                    rows: int) -> Iterator[MergedChunk]:
    """`batches` as for `merge_time_sorted`, in any order: all read, sorted once, served in chunks."""
    # Column by column, freeing as it goes: the peak is the data plus one column, not twice the data.
    pieces: list[list[np.ndarray] | None] = [[] for _ in range(7)]
    for b in batches:
        for j in range(7):
            pieces[j].append(b[j])  # type: ignore[union-attr]
    cols: list[np.ndarray] = []
    for j in range(7):
        cols.append(np.concatenate(pieces[j]))  # type: ignore[arg-type]
        pieces[j] = None
    order = np.lexsort((cols[6], cols[0]))
    for j in range(7):
        cols[j] = cols[j][order]
    del order
    out = Pieces(rows)
    for off, piece in out.push(tuple(cols)):
        yield _merged(off, piece, last_ts)
    for off, piece in out.flush():
        yield _merged(off, piece, last_ts)


def merge_streams(streams: list[Iterator[CandleChunk]], last_ts: I64Array, rows: int) -> Iterator[MergedChunk]:
    """k-way merge of per-symbol streams; `streams[i]` is symbol index i's chunks in time order."""
    k = len(streams)
    bufs: list[tuple[np.ndarray, ...] | None] = [None] * k
    open_ = [True] * k
    out = Pieces(rows)

    def refill(i: int) -> None:
        while open_[i] and (bufs[i] is None or not len(bufs[i][0])):  # type: ignore[index]
            ch = next(streams[i], None)
            if ch is None:
                open_[i] = False
                return
            sym = np.full(len(ch), i, dtype=np.int32)
            bufs[i] = (ch.timestamp, ch.open, ch.high, ch.low, ch.close, ch.volume, sym)

    while True:
        for i in range(k):
            refill(i)
        live = [i for i in range(k) if bufs[i] is not None and len(bufs[i][0])]  # type: ignore[index]
        if not live:
            break
        limits = [int(bufs[i][0][-1]) for i in live if open_[i]]  # type: ignore[index]
        cut = min(limits) if limits else None
        taken: list[tuple[np.ndarray, ...]] = []
        for i in live:
            b = bufs[i]
            assert b is not None
            n = len(b[0]) if cut is None else int(np.searchsorted(b[0], cut, side="right"))
            if n:
                taken.append(tuple(a[:n] for a in b))
                bufs[i] = tuple(a[n:] for a in b)
        cols = tuple(np.concatenate([t[j] for t in taken]) for j in range(7))
        for off, piece in out.push(_order_runs(cols)):
            yield _merged(off, piece, last_ts)
    for off, piece in out.flush():
        yield _merged(off, piece, last_ts)
