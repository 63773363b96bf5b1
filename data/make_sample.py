"""Regenerate the bundled sample data (deterministic: same bytes on every run with the pinned pyarrow).

    .venv/bin/python data/make_sample.py            # writes data/sample/

* `BTCUSD-1m.parquet`: one symbol (`BTCUSD`, in a `symbol` column), 5,000 one-minute candles (seeded random walk).
* `multi-1h.csv`: BTCUSD, ETHUSD, SOLUSD, 1,000 hourly candles each, rows interleaved by time.
* `alerts.jsonl`: 50 alerts over the BTCUSD range; some carry `price`, some do not; extra `score` column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent / "sample"
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000
HOUR = 3_600_000


def walk(rng: np.random.Generator, n: int, start: float, vol: float) -> dict[str, Any]:
    """OHLCV from a log random walk: open = previous close, high/low wrap open and close."""
    close = start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.r_[start, close[:-1]]
    wick_hi = np.abs(rng.normal(0.0, vol / 2, n)) * close
    wick_lo = np.abs(rng.normal(0.0, vol / 2, n)) * close
    high = np.maximum(open_, close) + wick_hi
    low = np.minimum(open_, close) - wick_lo
    volume = rng.gamma(2.0, 5.0, n)
    # Two decimals like a real tape; rounding keeps high >= max(open, close) >= min(open, close) >= low.
    o, c = np.round(open_, 2), np.round(close, 2)
    return {
        "open": o,
        "high": np.maximum(np.round(high, 2), np.maximum(o, c)),
        "low": np.minimum(np.round(low, 2), np.minimum(o, c)),
        "close": c,
        "volume": np.round(volume, 3),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240101)

    n = 5000
    ts = START_MS + np.arange(n, dtype=np.int64) * MINUTE
    btc = walk(rng, n, 42_000.0, 0.0008)
    # An explicit symbol column (the file stem would be "BTCUSD-1m") so the alerts' symbol matches.
    table = pa.table({"timestamp": ts, "symbol": pa.array(["BTCUSD"] * n).dictionary_encode(), **btc})
    pq.write_table(table, OUT / "BTCUSD-1m.parquet", compression="zstd", use_byte_stream_split=True)

    lines = ["timestamp,symbol,open,high,low,close,volume"]
    per = 1000
    hours = START_MS + np.arange(per, dtype=np.int64) * HOUR
    series = {
        "BTCUSD": walk(rng, per, 42_000.0, 0.006),
        "ETHUSD": walk(rng, per, 2_300.0, 0.008),
        "SOLUSD": walk(rng, per, 100.0, 0.012),
    }
    for i in range(per):
        for sym, cols in series.items():
            vals = ",".join(f"{cols[k][i]:.2f}" for k in ("open", "high", "low", "close"))
            lines.append(f"{hours[i]},{sym},{vals},{cols['volume'][i]:.3f}")
    (OUT / "multi-1h.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    picks = np.sort(rng.choice(n, size=50, replace=False))
    alerts = []
    for k, i in enumerate(picks.tolist()):
        # Every fifth alert lands exactly on a candle's open time (the alert-before-candle tie case).
        offset = 0 if k % 5 == 0 else int(rng.integers(1, MINUTE))
        rec: dict[str, object] = {"id": f"a{k + 1:03d}", "timestamp": int(ts[i]) + offset, "symbol": "BTCUSD"}
        if k % 3 != 2:
            rec["price"] = float(btc["close"][i])
        rec["score"] = round(float(rng.uniform(-1.0, 1.0)), 3)
        alerts.append(json.dumps(rec))
    (OUT / "alerts.jsonl").write_text("\n".join(alerts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
