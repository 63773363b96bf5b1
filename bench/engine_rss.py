"""Host peak RSS of a whole `plughost run` (data, indicators, plugin batches, fills, equity, results)
at 1M and 10M candles: it should stay flat, because every stage streams.

    .venv/bin/python bench/engine_rss.py [--rows 1000000 10000000]

Each size runs in a fresh host process; RSS is the host's own peak (VmHWM), plugins excluded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry
path, out = sys.argv[1], sys.argv[2]
registry = Registry.discover([Path(sys.argv[3])], use_cache=False)
indicators = {"fast": {"type": "sma", "period": 10}, "slow": {"type": "sma", "period": int(sys.argv[4])}}
run = RunConfig.parse({"strategy": "bench-sma-ind-vec", "candles": path, "indicators": indicators})
t = time.perf_counter()
outcome = run_backtest(run, registry=registry, out_dir=Path(out), run_id="rss")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"status": outcome.status, "seconds": time.perf_counter() - t, "peak_rss_mb": hwm / 1024,
                  "trades": outcome.summary["metrics"]["num_trades"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--slow", type=int, default=30, help="slow SMA period (fewer trades when longer)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from throughput import make_bars

    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            path = Path(tmp) / f"bars-{rows}.parquet"
            make_bars(rows, path)
            argv = [sys.executable, "-c", CHILD, str(path), str(Path(tmp) / "out"), str(REPO / "bench" / "plugins"),
                    str(args.slow)]
            done = subprocess.run(argv, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{rows:>11,} candles: host peak RSS {result['peak_rss_mb']:7.1f} MB, "
                  f"{result['seconds']:6.1f} s, {result['trades']} trades, status {result['status']}")
            path.unlink()


if __name__ == "__main__":
    main()
