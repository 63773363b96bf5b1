"""Host-side indicators, computed vectorized and streamed chunk by chunk with explicit state.

| type  | definition (p = period)                                                                     | first value |
|-------|---------------------------------------------------------------------------------------------|-------------|
| `sma` | mean of the last p closes                                                                   | index p-1   |
| `ema` | alpha = 2/(p+1); seed = SMA of the first p closes; then e = alpha*close + (1-alpha)*e_prev  | index p-1   |
| `rsi` | Wilder: gains/losses of close-to-close changes; seed = mean of the first p; then            | index p     |
|       | avg = (avg*(p-1) + x)/p; rsi = 100*avg_gain/(avg_gain+avg_loss) (50 when both are 0)        |             |
| `atr` | Wilder: TR = max(h-l, abs(h-prev_c), abs(l-prev_c)), first TR = h-l; seed = mean of the     | index p-1   |
|       | first p TRs; then atr = (atr*(p-1) + TR)/p                                                  |             |

Values are NaN during warm-up.

The contract says batching never changes results, so the streamed values must be bit-identical to the
whole-series values for any chunking. Every floating-point operation is therefore tied to a position
in the series, never to a position in a chunk:

* SMA sums each window as (suffix of one block) + (prefix of the next), with blocks of p values
  anchored at absolute indices that are multiples of p. Each window is a sum of p values in a fixed
  order (error ~ p*eps, unlike a running cumsum difference, whose error grows with the series).
* The recursive ones (EMA, Wilder) are linear recurrences y = b*y_prev + c*x, evaluated in blocks of
  256 anchored at the first post-seed index: a log-depth scan inside each block (vectorized over all
  blocks), then a short sequential pass over block boundaries. The stream carries the inputs of the
  unfinished block and recomputes it from its start when the next chunk arrives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from plughost.errors import ConfigError

from .data import CANDLE_COLUMNS, CandleChunk

__all__ = ["INDICATOR_TYPES", "IndicatorSpec", "IndicatorStream", "compute_indicators", "parse_indicators"]

INDICATOR_TYPES = ("sma", "ema", "rsi", "atr")
_MAX_PERIOD = 100_000
_BLOCK = 256  # a power of two: the in-block scan doubles its reach log2(_BLOCK) times

F64 = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    type: str
    period: int


def parse_indicators(spec: Mapping[str, Mapping[str, Any]] | None) -> list[IndicatorSpec]:
    """The run config's `indicators` object -> specs, in the config's order. `None` -> no indicators."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise ConfigError("'indicators' must be an object mapping names to {type, period}")
    known = ", ".join(INDICATOR_TYPES)
    out: list[IndicatorSpec] = []
    problems: list[str] = []
    for name, body in spec.items():
        where = f"indicator '{name}'"
        if not isinstance(name, str) or not name:
            problems.append(f"indicator names must be non-empty strings, got {name!r}")
            continue
        if name in (*CANDLE_COLUMNS, "symbol"):
            # Indicators travel as extra batch columns beside the candle's own.
            problems.append(f"{where}: the name clashes with a candle column; pick another name")
            continue
        if not isinstance(body, Mapping):
            problems.append(f"{where}: expected an object like {{\"type\": \"sma\", \"period\": 10}}")
            continue
        unknown = sorted(set(body) - {"type", "period"})
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: type, period)")
        typ = body.get("type")
        if not isinstance(typ, str) or typ.lower() not in INDICATOR_TYPES:
            problems.append(f"{where}: unknown type {typ!r}; known types: {known}")
            continue
        period = body.get("period")
        if isinstance(period, float) and period.is_integer():
            period = int(period)
        if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= _MAX_PERIOD:
            problems.append(f"{where}: 'period' must be an integer from 1 to {_MAX_PERIOD}, got {period!r}")
            continue
        out.append(IndicatorSpec(name=name, type=typ.lower(), period=period))
    if problems:
        raise ConfigError(
            "invalid indicators: " + "; ".join(problems), problems=problems, hint=f"known types: {known}"
        )
    return out


# ------------------------------------------------------------------------------------------ kernels
class _Sma:
    def __init__(self, p: int) -> None:
        self.p = p
        self.n = 0  # values seen
        self.tail: F64 = np.empty(0)  # values from the start of the block the next window begins in

    def feed(self, x: F64) -> F64:
        p = self.p
        g0 = self.n - len(self.tail)  # absolute index of ext[0]; a multiple of p
        ext = np.concatenate([self.tail, x]) if len(self.tail) else x
        m = len(ext)
        nb = -(-m // p)
        padded = np.zeros(nb * p)
        padded[:m] = ext
        blocks = padded.reshape(nb, p)
        prefix = np.cumsum(blocks, axis=1).ravel()
        suffix = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
        k = np.arange(len(self.tail), m)
        gi = g0 + k
        out = np.full(len(x), np.nan)
        ok = gi >= p - 1
        k, gi = k[ok], gi[ok]
        whole = gi % p == p - 1
        start = np.where(whole, 0, k - p + 1)
        sums = np.where(whole, prefix[k], suffix[start] + prefix[k])
        out[ok] = sums / p
        self.n += len(x)
        keep_from = max(self.n - p + 1, 0) // p * p
        self.tail = ext[keep_from - g0:].copy()
        return out


class _Recurrence:
    """y = b*y_prev + c*x, seeded with the mean of the first p inputs (output at the p-th input)."""

    def __init__(self, p: int, b: float, c: float) -> None:
        self.p = p
        self.b = b
        self.c = c
        self.n = 0
        self.acc = 0.0
        self.y_before_block = math.nan
        self.pending: F64 = np.empty(0)  # inputs of the unfinished block, from its start
        self.pow_table = np.power(b, np.arange(1, _BLOCK + 1, dtype=np.float64))
        self.step_pows: list[float] = []
        q = b
        for _ in range(_BLOCK.bit_length() - 1):
            self.step_pows.append(q)
            q = q * q
        self.b_block = float(self.pow_table[-1])

    def feed(self, x: F64) -> F64:
        out = np.full(len(x), np.nan)
        i = 0
        while self.n < self.p and i < len(x):
            # The seed is a plain left-to-right sum, the same however the inputs were chunked.
            self.acc += float(x[i])
            self.n += 1
            if self.n == self.p:
                self.y_before_block = self.acc / self.p
                out[i] = self.y_before_block
            i += 1
        if i == len(x):
            return out
        done = len(self.pending)
        ext = np.concatenate([self.pending, x[i:]]) if done else x[i:]
        m = len(ext)
        nb = -(-m // _BLOCK)
        acc = np.zeros(nb * _BLOCK)
        acc[:m] = ext
        acc *= self.c
        blocks = acc.reshape(nb, _BLOCK)
        for s, q in enumerate(self.step_pows):
            sh = 1 << s
            blocks[:, sh:] += q * blocks[:, :-sh]
        y_prev = np.empty(nb)
        y = self.y_before_block
        last = blocks[:, -1]
        for t in range(nb):
            y_prev[t] = y
            y = self.b_block * y + float(last[t])
        ys = (self.pow_table[None, :] * y_prev[:, None] + blocks).ravel()
        out[i:] = ys[done:m]
        self.n += m - done
        full = m // _BLOCK
        if m % _BLOCK:
            self.pending = ext[full * _BLOCK:].copy()
            self.y_before_block = float(y_prev[-1])
        else:
            self.pending = np.empty(0)
            self.y_before_block = y
        return out


class _Ema:
    def __init__(self, p: int) -> None:
        alpha = 2.0 / (p + 1)
        self.rec = _Recurrence(p, 1.0 - alpha, alpha)

    def feed(self, high: F64, low: F64, close: F64) -> F64:
        return self.rec.feed(close)


class _Rsi:
    def __init__(self, p: int) -> None:
        self.gain = _Recurrence(p, (p - 1) / p, 1.0 / p)
        self.loss = _Recurrence(p, (p - 1) / p, 1.0 / p)
        self.prev_close = math.nan

    def feed(self, high: F64, low: F64, close: F64) -> F64:
        out = np.full(len(close), np.nan)
        if not len(close):
            return out
        first = 1 if math.isnan(self.prev_close) else 0  # the series' first close has no change
        prev = np.empty(len(close))
        prev[0] = self.prev_close
        prev[1:] = close[:-1]
        d = (close - prev)[first:]
        self.prev_close = float(close[-1])
        g = self.gain.feed(np.maximum(d, 0.0))
        lo = self.loss.feed(np.maximum(-d, 0.0))
        total = g + lo
        with np.errstate(invalid="ignore", divide="ignore"):
            rsi = np.where(total > 0, 100.0 * g / total, 50.0)
        rsi[np.isnan(total)] = np.nan
        out[first:] = rsi
        return out


class _Atr:
    def __init__(self, p: int) -> None:
        self.rec = _Recurrence(p, (p - 1) / p, 1.0 / p)
        self.prev_close = math.nan

    def feed(self, high: F64, low: F64, close: F64) -> F64:
        if not len(close):
            return np.empty(0)
        prev = np.empty(len(close))
        prev[0] = self.prev_close
        prev[1:] = close[:-1]
        tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
        if math.isnan(self.prev_close):
            tr[0] = high[0] - low[0]
        self.prev_close = float(close[-1])
        return self.rec.feed(tr)


class _SmaKernel:
    def __init__(self, p: int) -> None:
        self.sma = _Sma(p)

    def feed(self, high: F64, low: F64, close: F64) -> F64:
        return self.sma.feed(close)


_KERNELS: dict[str, type[_SmaKernel] | type[_Ema] | type[_Rsi] | type[_Atr]] = {
    "sma": _SmaKernel, "ema": _Ema, "rsi": _Rsi, "atr": _Atr,
}


class IndicatorStream:
    """Indicators of one symbol, fed its chunks in order; state is carried across chunks."""

    def __init__(self, specs: list[IndicatorSpec]) -> None:
        self.specs = list(specs)
        self._kernels = [_KERNELS[s.type](s.period) for s in self.specs]
        self._seen = 0

    def next(self, chunk: CandleChunk) -> dict[str, np.ndarray]:
        if chunk.offset != self._seen:
            raise ValueError(f"chunk offset {chunk.offset} does not follow the {self._seen} rows already seen")
        return self.next_arrays(chunk.high, chunk.low, chunk.close)

    def next_arrays(self, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
        """Like `next`, from bare columns (the next rows of the same series)."""
        h = np.ascontiguousarray(high, dtype=np.float64)
        lo = np.ascontiguousarray(low, dtype=np.float64)
        c = np.ascontiguousarray(close, dtype=np.float64)
        self._seen += len(c)
        return {s.name: k.feed(h, lo, c) for s, k in zip(self.specs, self._kernels, strict=True)}


def compute_indicators(
    specs: list[IndicatorSpec], high: np.ndarray, low: np.ndarray, close: np.ndarray
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
    return {s.name: np.concatenate([p[s.name] for p in parts]) for s in specs}
