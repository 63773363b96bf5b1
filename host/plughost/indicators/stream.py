"""Indicator streams: one symbol's series fed in order, or a merged multi-symbol stream."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .kernels import make_kernel
from .spec import IndicatorSpec


class _Chunk(Protocol):
    @property
    def offset(self) -> int: ...
    @property
    def high(self) -> np.ndarray: ...
    @property
    def low(self) -> np.ndarray: ...
    @property
    def close(self) -> np.ndarray: ...

    def __len__(self) -> int: ...


class _MergedChunk(_Chunk, Protocol):
    @property
    def symbol(self) -> np.ndarray: ...


class IndicatorStream:
    """Indicators of one symbol, fed its chunks in order; state is carried across chunks.

    Values come out under each spec's output names (`IndicatorSpec.outputs`): the indicator's name,
    or `<name>.upper`/`.middle`/`.lower` (bbands) and `<name>.line`/`.signal`/`.histogram` (macd).
    """

    def __init__(self, specs: Sequence[IndicatorSpec]) -> None:
        self.specs = list(specs)
        self._kernels = [make_kernel(s) for s in self.specs]
        self._seen = 0

    @property
    def outputs(self) -> list[str]:
        return [o for s in self.specs for o in s.outputs]

    def next(self, chunk: _Chunk) -> dict[str, np.ndarray]:
        if chunk.offset != self._seen:
            raise ValueError(f"chunk offset {chunk.offset} does not follow the {self._seen} rows already seen")
        return self.next_arrays(chunk.high, chunk.low, chunk.close)

    def next_arrays(self, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
        """Like `next`, from bare columns (the next rows of the same series)."""
        h = np.ascontiguousarray(high, dtype=np.float64)
        lo = np.ascontiguousarray(low, dtype=np.float64)
        c = np.ascontiguousarray(close, dtype=np.float64)
        self._seen += len(c)
        out: dict[str, np.ndarray] = {}
        for s, k in zip(self.specs, self._kernels, strict=True):
            out.update(zip(s.outputs, k.feed(h, lo, c), strict=True))
        return out


class MergedIndicatorStream:
    """Indicators over a merged multi-symbol stream: each symbol has its own state (its own series),
    and the values are scattered back to the chunk's row order."""

    def __init__(self, specs: Sequence[IndicatorSpec], symbols: Sequence[str]) -> None:
        self.specs = list(specs)
        self.symbols = list(symbols)
        self._streams: dict[int, IndicatorStream] = {}
        self._seen = 0
        self.outputs = [o for s in self.specs for o in s.outputs]

    def stream(self, index: int) -> IndicatorStream:
        st = self._streams.get(index)
        if st is None:
            st = self._streams[index] = IndicatorStream(self.specs)
        return st

    def next(self, chunk: _MergedChunk) -> dict[str, np.ndarray]:
        if chunk.offset != self._seen:
            raise ValueError(f"chunk offset {chunk.offset} does not follow the {self._seen} rows already seen")
        n = len(chunk)
        self._seen += n
        sym = np.asarray(chunk.symbol)
        if not self.outputs:
            return {}
        if n and (sym == sym[0]).all():  # one symbol in this chunk (always so for a one-symbol file)
            return self.stream(int(sym[0])).next_arrays(chunk.high, chunk.low, chunk.close)
        out = {name: np.empty(n) for name in self.outputs}
        order = np.argsort(sym, kind="stable")  # each symbol's rows, in stream order
        s = sym[order]
        bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
        for a, b in itertools.pairwise(bounds):
            idx: Any = order[a:b]
            vals = self.stream(int(s[a])).next_arrays(chunk.high[idx], chunk.low[idx], chunk.close[idx])
            for name, v in vals.items():
                out[name][idx] = v
        return out


def compute_indicators(
    specs: Sequence[IndicatorSpec], high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> dict[str, np.ndarray]:
    """Whole series at once; identical, bit for bit, to streaming the same rows in any chunks.

    Internally streamed in slices: same values (that is the invariant), better cache use.
    """
    stream = IndicatorStream(specs)
    n = len(close)
    step = 65536
    if n <= step:
        return stream.next_arrays(high, low, close)
    parts = [stream.next_arrays(high[i:i + step], low[i:i + step], close[i:i + step]) for i in range(0, n, step)]
    return {o: np.concatenate([p[o] for p in parts]) for o in stream.outputs}
