"""Cost of --sandbox: plugin set-up (spawn, handshake, initialize: summary timings.setup_s) on 500 candles,
and loop throughput on N candles, for a Python (sma-cross) and a TypeScript (simple-ma) strategy.

    .venv/bin/python bench/sandbox.py [N=200000]
"""

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

tmp = Path(tempfile.mkdtemp())
n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
rng = np.random.default_rng(0)
close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
open_ = np.concatenate([[close[0]], close[:-1]])
pq.write_table(pa.table({"timestamp": 1_700_000_000_000 + 60_000 * np.arange(n, dtype=np.int64), "open": open_,
                         "high": np.maximum(open_, close), "low": np.minimum(open_, close), "close": close,
                         "volume": np.ones(n)}), tmp / "c.parquet")
small = tmp / "s.parquet"
pq.write_table(pq.read_table(tmp / "c.parquet").slice(0, 500), small)
reg = Registry.discover([Path("plugins")], home=tmp / "home", use_cache=False)
k = 0
for strategy in ("sma-cross", "simple-ma"):
    for sandbox in (False, True):
        setups, rates = [], []
        for _i in range(5):
            k += 1
            o = run_backtest(RunConfig.parse({"strategy": strategy, "candles": str(small), "sandbox": sandbox}),
                             registry=reg, out_dir=tmp / "out", run_id=f"s{k}")
            assert o.status == "ok", o.summary["error"]
            setups.append(o.summary["timings"]["setup_s"])
        for _i in range(3):
            k += 1
            o = run_backtest(RunConfig.parse({"strategy": strategy, "candles": str(tmp / "c.parquet"),
                                              "sandbox": sandbox}), registry=reg, out_dir=tmp / "out", run_id=f"t{k}")
            assert o.status == "ok", o.summary["error"]
            rates.append(o.summary["timings"]["candles_per_s"])
        print(f"{strategy:10s} sandbox={sandbox!s:5s} setup median {statistics.median(setups)*1000:.0f} ms "
              f"(min {min(setups)*1000:.0f})  loop {statistics.median(rates):,.0f} candles/s", flush=True)
