"""Host cost of reading a batch's signals: protocol 2's maps vs protocol 3's columns.

    .venv/bin/python bench/answers.py [--signals 39168] [--batch 8192] [--repeat 7]

The SMA 10/30 bench makes ~39k signals per 1M candles. Both forms are encoded by the Python SDK
(`plughost_sdk._answers`), packed with msgpack, and timed on the host side: unpack + `parse_batch_result`
per batch, the per-1M-candles total, median of --repeat. Also the SDK's encoding time for each form.
"""

from __future__ import annotations

import argparse
import statistics
import time

import msgpack
from plughost.protocol.messages import parse_batch_result
from plughost_sdk import Signal
from plughost_sdk._answers import SignalColumns, signal_map

ENTRY = Signal.entry(reason="golden-cross")
EXIT = Signal.exit(reason="death-cross")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=39_168)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    batches = -(-1_000_000 // args.batch)
    per = args.signals // batches
    step = args.batch // per
    cols = SignalColumns((i * step, None, ENTRY if i % 2 == 0 else EXIT) for i in range(per))
    forms = {
        "maps (protocol 2)": (lambda: [signal_map(s, a, al) for a, al, s in cols]),
        "columns (protocol 3)": cols.to_wire,
    }
    for name, encode in forms.items():
        enc, dec = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            for _ in range(batches):
                body = msgpack.packb({"signals": encode(), "book": None}, use_bin_type=True)
            enc.append(time.perf_counter() - t)
            t = time.perf_counter()
            for _ in range(batches):
                parse_batch_result(msgpack.unpackb(body, raw=False), args.batch, 0)
            dec.append(time.perf_counter() - t)
        print(f"{name:<22} host unpack+parse {statistics.median(dec) * 1e3:7.1f} ms per 1M candles   "
              f"SDK encode+pack {statistics.median(enc) * 1e3:7.1f} ms   ({per * batches:,} signals, "
              f"{len(body):,} B per batch)")


if __name__ == "__main__":
    main()
