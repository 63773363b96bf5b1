"""Host RSS while streaming candles: generates 1M- and 10M-row Parquet files in a temp dir, streams each
in a fresh process (`open_candles` + `iter_chunks` + all four indicators) and prints its peak RSS.

    .venv/bin/python bench/data_rss.py [--rows 1000000 10000000] [--format parquet|csv|arrow]
        [--symbols 3 --layout sorted|blocks]

Flat means the 10M peak is about the 1M peak: memory is bounded by the chunk, not the file. With
`--symbols N` the rows are split over N symbols (in time order overall, or one symbol after another) and
streamed merged (`iter_merged` + `MergedIndicatorStream`), as a run streams them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = Path(__file__).resolve().parents[1] / "host"


def generate(path: Path, rows: int, fmt: str, symbols: int = 1, layout: str = "sorted") -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    piece = 1_000_000
    schema = pa.schema([("timestamp", pa.int64())] + [(c, pa.float64()) for c in
                                                      ("open", "high", "low", "close", "volume")]
                       + ([("symbol", pa.string())] if symbols > 1 else []))
    writer: object
    if fmt == "parquet":
        writer = pq.ParquetWriter(path, schema)
    elif fmt == "arrow":
        writer = pa.ipc.new_file(str(path), schema)
    else:
        writer = pcsv.CSVWriter(str(path), schema)
    last = 30_000.0
    for start in range(0, rows, piece):
        n = min(piece, rows - start)
        close = last * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
        last = float(close[-1])
        idx = start + np.arange(n, dtype=np.int64)
        cols = {
            "timestamp": 1_600_000_000_000 + idx * 60_000,
            "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
            "volume": np.ones(n),
        }
        if symbols > 1:
            if layout == "sorted":  # rows in time order, symbols taking turns at each timestamp
                cols["timestamp"] = 1_600_000_000_000 + idx // symbols * 60_000
                cols["symbol"] = [f"S{k:03d}" for k in idx % symbols]
            else:  # one symbol after another
                per = -(-rows // symbols)
                cols["timestamp"] = 1_600_000_000_000 + idx % per * 60_000
                cols["symbol"] = [f"S{k:03d}" for k in idx // per]
        table = pa.table(cols, schema=schema)
        writer.write_table(table)  # type: ignore[attr-defined]
    writer.close()  # type: ignore[attr-defined]


def stream(path: Path) -> dict[str, float]:
    sys.path.insert(0, str(HOST))
    from plughost.executor.data import open_candles
    from plughost.executor.indicators import IndicatorStream, MergedIndicatorStream, parse_indicators

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    src = open_candles(path)
    specs = parse_indicators({k: {"type": k, "period": 14} for k in ("sma", "ema", "rsi", "atr")})
    rows = 0
    checksum = 0.0
    if len(src.symbols()) == 1:
        ind = IndicatorStream(specs)
        for chunk in src.iter_chunks(src.symbols()[0]):
            vals = ind.next(chunk)
            rows += len(chunk)
            checksum += float(vals["rsi"][-1])
    else:
        merged = MergedIndicatorStream(specs, src.symbols())
        for mchunk in src.iter_merged():
            vals = merged.next(mchunk)
            rows += len(mchunk)
            checksum += float(vals["rsi"][-1])
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "seconds": dt, "baseline_rss_mb": base / 1024, "peak_rss_mb": peak / 1024,
            "checksum": checksum}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--format", choices=["parquet", "csv", "arrow"], default="parquet")
    ap.add_argument("--symbols", type=int, default=1)
    ap.add_argument("--layout", choices=["sorted", "blocks"], default="sorted")
    ap.add_argument("--_generate", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--_stream", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._generate:
        generate(Path(args._generate[0]), int(args._generate[1]), args.format, args.symbols, args.layout)
        return
    if args._stream:
        print(json.dumps(stream(Path(args._stream))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            path = Path(tmp) / f"candles-{rows}.{args.format}"
            subprocess.run([sys.executable, __file__, "--format", args.format, "--symbols", str(args.symbols),
                            "--layout", args.layout, "--_generate", str(path), str(rows)], check=True)
            out = subprocess.run([sys.executable, __file__, "--_stream", str(path)], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out)
            size = path.stat().st_size / 2**20
            print(f"{args.format:8s} {rows:>11,d} rows ({size:7.1f} MB file): peak RSS {r['peak_rss_mb']:7.1f} MB "
                  f"(after imports {r['baseline_rss_mb']:.1f} MB), {r['seconds']:.2f} s, "
                  f"{r['rows'] / r['seconds'] / 1e6:.2f} M rows/s incl. sma/ema/rsi/atr")
            path.unlink()


if __name__ == "__main__":
    main()
