"""Indicator kernels: vectorized, streamed chunk by chunk with explicit state, bit-identical for any
chunking.

| type     | definition (p = period)                                                                 | first value  |
|----------|-----------------------------------------------------------------------------------------|--------------|
| `sma`    | mean of the last p closes                                                               | index p-1    |
| `ema`    | alpha = 2/(p+1); seed = SMA of the first p closes; then e = alpha*close + (1-alpha)*e   | index p-1    |
| `rsi`    | Wilder: gains/losses of close-to-close changes; seed = mean of the first p; then        | index p      |
|          | avg = (avg*(p-1) + x)/p; rsi = 100*avg_gain/(avg_gain+avg_loss) (50 when both are 0)    |              |
| `atr`    | Wilder: TR = max(h-l, abs(h-prev_c), abs(l-prev_c)), first TR = h-l; seed = mean of the | index p-1    |
|          | first p TRs; then atr = (atr*(p-1) + TR)/p                                              |              |
| `stddev` | population standard deviation of the last p closes (divides by p)                       | index p-1    |
| `bbands` | middle = SMA(p); upper/lower = middle +/- k*stddev(p)                                   | index p-1    |
| `macd`   | line = EMA(fast) - EMA(slow); signal = EMA(signal) of the line, seeded with the mean of | line: slow-1 |
|          | its first `signal` values; histogram = line - signal (both from index slow+signal-2)    |              |

Values are NaN during warm-up.

The contract says batching never changes results, so the streamed values must be bit-identical to the
whole-series values for any chunking. Every floating-point operation is therefore tied to a position
in the series, never to a position in a chunk:

* SMA sums each window as (suffix of one block) + (prefix of the next), with blocks of p values
  anchored at absolute indices that are multiples of p. Each window is a sum of p values in a fixed
  order (error ~ p*eps, unlike a running cumsum difference, whose error grows with the series).
* The standard deviation uses the same blocks, on values shifted by the first value of the block the
  window ends in (always inside the window): var = (S2 - S1^2/p)/p over shifted sums S1, S2. The
  shift keeps the cancellation to the window's own spread (a flat window gives exactly 0).
* The recursive ones (EMA, Wilder) are linear recurrences y = b*y_prev + c*x, evaluated in blocks of
  256 anchored at the first post-seed index: a log-depth scan inside each block (vectorized over all
  blocks), then a short sequential pass over block boundaries. The stream carries the inputs of the
  unfinished block and recomputes it from its start when the next chunk arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .spec import IndicatorSpec

_BLOCK = 256  # a power of two: the in-block scan doubles its reach log2(_BLOCK) times

F64 = np.ndarray[Any, np.dtype[np.float64]]


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


class _StdDev:
    """Population std of the last p values; see the module docstring for the shifted block sums."""

    def __init__(self, p: int) -> None:
        self.p = p
        self.n = 0
        self.tail: F64 = np.empty(0)

    def feed(self, x: F64) -> F64:
        p = self.p
        g0 = self.n - len(self.tail)  # absolute index of ext[0]; a multiple of p
        ext = np.concatenate([self.tail, x]) if len(self.tail) else x
        m = len(ext)
        nb = -(-m // p)
        padded = np.zeros(nb * p)
        padded[:m] = ext
        blocks = padded.reshape(nb, p)
        shift = blocks[:, :1]
        d = blocks - shift
        pre1 = np.cumsum(d, axis=1)
        pre2 = np.cumsum(d * d, axis=1)
        # block j-1 shifted by block j's first value, summed from its end backwards
        e = blocks[:-1] - shift[1:]
        suf1 = np.cumsum(e[:, ::-1], axis=1)[:, ::-1]
        suf2 = np.cumsum((e * e)[:, ::-1], axis=1)[:, ::-1]
        out = np.full(len(x), np.nan)
        k = np.arange(len(self.tail), m)
        gi = g0 + k
        ok = gi >= p - 1
        k = k[ok]
        j, r = k // p, k % p
        whole = r == p - 1
        s1 = pre1[j, r].copy()
        s2 = pre2[j, r].copy()
        part = ~whole
        if part.any():
            jp, rp = j[part] - 1, r[part] + 1
            s1[part] = suf1[jp, rp] + pre1[j[part], r[part]]
            s2[part] = suf2[jp, rp] + pre2[j[part], r[part]]
        var = (s2 - s1 * s1 / p) / p
        out[ok] = np.sqrt(np.maximum(var, 0.0))
        self.n += len(x)
        keep_from = max(self.n - p + 1, 0) // p * p
        self.tail = ext[keep_from - g0:].copy()
        return out


class Kernel(Protocol):
    def feed(self, high: F64, low: F64, close: F64) -> tuple[F64, ...]: ...


class _OneLine:
    """A kernel with one output: a stream fed the closes (SMA, stddev) or whole candles (EMA, RSI, ATR)."""

    def __init__(self, stream: _Sma | _StdDev | _Ema | _Rsi | _Atr) -> None:
        self.stream = stream

    def feed(self, high: F64, low: F64, close: F64) -> tuple[F64, ...]:
        stream = self.stream
        if isinstance(stream, _Sma | _StdDev):
            return (stream.feed(close),)
        return (stream.feed(high, low, close),)


class _BBandsKernel:
    def __init__(self, s: IndicatorSpec) -> None:
        self.sma = _Sma(s.period)
        self.std = _StdDev(s.period)
        self.k = s.k

    def feed(self, high: F64, low: F64, close: F64) -> tuple[F64, ...]:
        mid = self.sma.feed(close)
        width = self.k * self.std.feed(close)
        return mid + width, mid, mid - width


class _MacdKernel:
    def __init__(self, s: IndicatorSpec) -> None:
        self.fast = _Ema(s.fast)
        self.slow = _Ema(s.slow)
        a = 2.0 / (s.signal + 1)
        self.signal = _Recurrence(s.signal, 1.0 - a, a)
        self.first_line = s.slow - 1  # absolute index of the line's first value
        self.n = 0

    def feed(self, high: F64, low: F64, close: F64) -> tuple[F64, ...]:
        line = self.fast.feed(high, low, close) - self.slow.feed(high, low, close)
        start = min(max(self.first_line - self.n, 0), len(close))
        self.n += len(close)
        signal = np.full(len(close), np.nan)
        signal[start:] = self.signal.feed(line[start:])
        return line, signal, line - signal


_KERNELS: dict[str, Callable[[IndicatorSpec], Kernel]] = {
    "sma": lambda s: _OneLine(_Sma(s.period)), "ema": lambda s: _OneLine(_Ema(s.period)),
    "rsi": lambda s: _OneLine(_Rsi(s.period)), "atr": lambda s: _OneLine(_Atr(s.period)),
    "stddev": lambda s: _OneLine(_StdDev(s.period)), "bbands": _BBandsKernel, "macd": _MacdKernel,
}


def make_kernel(spec: IndicatorSpec) -> Kernel:
    return _KERNELS[spec.type](spec)
