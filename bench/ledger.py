"""The host's order-book walk alone (`plughost_sdk.fastwalk.replay_arrays`), per 1M one-symbol candles with
a given number of plain market signals, against a bare numpy pass over the same columns.

    .venv/bin/python bench/ledger.py [--bars 1000000] [--signals 39000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from plughost_sdk.fastwalk import replay_arrays
from plughost_sdk.orders import OrderBook, OrderSignal, Rules


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--signals", type=int, default=39_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.bars
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[100.0, close[:-1]]
    high, low = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
    ts = np.arange(n, dtype=np.int64) * 60_000
    sym = np.zeros(n, np.int32)
    rows = np.sort(rng.choice(n, args.signals, replace=False))
    entry, exit_ = OrderSignal("entry"), OrderSignal("exit")
    batches = []
    for a in range(0, n, 8192):
        z = min(n, a + 8192)
        picked = rows[(rows >= a) & (rows < z)]
        batches.append((a, z, [(int(r) - a, None, entry if i % 2 == 0 else exit_)
                               for i, r in zip(np.searchsorted(rows, picked), picked, strict=True)]))

    def walk() -> int:
        book = OrderBook(["A"], Rules())
        for a, z, signals in batches:
            replay_arrays(book, ts[a:z], sym[a:z], open_[a:z], high[a:z], low[a:z], close[a:z],
                          [z - a - 1] if z == n else [], [], signals)
        return len(book.trades)

    def bare() -> float:
        return float((close * 1.0001 - open_).sum())  # one pass over two columns: the floor of any array work

    for name, fn in (("event walk", walk), ("numpy pass", bare)):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        print(f"{name:<12} {statistics.median(times) * 1000:8.1f} ms per {n:,} candles, {args.signals:,} signals")


if __name__ == "__main__":
    main()
