"""Batch throughput: 200 short runs (1k candles each) with 1 and 2 workers, with and without warm starts,
for a Python strategy (sma-cross) and its Node twin (simple-ma).

    .venv/bin/python bench/batch.py [--runs 200] [--candles 1000] [--workers 1,2] [--lang python,node]
                                [--repeat 1]

Prints runs/s, the median per-run start cost (dispatch -> the strategy's completed handshake, measured in
the worker; target <= 5 ms with warm starts for Python), the median strategy spawn-to-handshake time, and
the 2-vs-1 worker speed-up (target >= 1.8x). Worker start-up is excluded from runs/s (it is paid once per
batch): the clock starts when the pool is up. With --repeat N every configuration runs N times, cold and
warm alternating, and the figures are medians. A worker's first Node run starts cold (it starts the worker's
first Node spare), so the Node warm medians include one cold start per worker. Figures only; nothing here
asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "host"))

from plughost.batch import load_batch, run_batch  # noqa: E402
from plughost.batch import local as local_engine  # noqa: E402
from plughost.plugins.registry import Registry  # noqa: E402


def make_data(folder: Path, files: int, n: int) -> None:
    for i in range(files):
        rng = np.random.default_rng(i)
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
        open_ = np.concatenate([[close[0]], close[:-1]])
        pq.write_table(pa.table({
            "timestamp": 1_700_000_000_000 + 60_000 * np.arange(n, dtype=np.int64), "open": open_,
            "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999, "close": close,
            "volume": np.full(n, 10.0)}), folder / f"d{i}.parquet")


class _Clock:
    """Starts the runs/s clock when the pool is up (wraps LocalEngine.start)."""

    t0 = 0.0

    @classmethod
    def install(cls) -> None:
        original = local_engine.LocalEngine.start

        def start(self: local_engine.LocalEngine) -> None:
            original(self)
            cls.t0 = time.monotonic()

        local_engine.LocalEngine.start = start  # type: ignore[method-assign]


STRATEGIES = {"python": "sma-cross", "node": "simple-ma"}  # twins: the same rule, the same config keys


def one(folder: Path, runs: int, workers: int, warm: bool, strategy: str = "sma-cross") -> dict[str, float]:
    per_file = runs // 4
    batch_file = folder / f"b-{strategy}-{workers}-{warm}.json"
    batch_file.write_text(json.dumps({
        "batch": {"warm_starts": warm},
        "sweeps": [{"strategy": strategy, "candles": "d*.parquet",
                    "grid": {"fast": list(range(2, 2 + per_file)), "slow": [60]}}],
    }))
    batch = load_batch(batch_file)
    out = Path(tempfile.mkdtemp(prefix="bench-batch-", dir=folder))
    result = run_batch(batch, out, registry=Registry.discover([REPO / "plugins"]), workers=workers, report=False)
    elapsed = time.monotonic() - _Clock.t0
    assert all(r.status == "ok" for r in result.rows), [r.error for r in result.rows if r.status != "ok"][:2]
    starts = [r.start_cost_s for r in result.rows if r.start_cost_s is not None]
    spawns = [r.spawn_s for r in result.rows if r.spawn_s is not None]
    return {"runs": len(result.rows), "elapsed": elapsed, "rps": len(result.rows) / elapsed,
            "start_ms": statistics.median(starts) * 1e3, "spawn_ms": statistics.median(spawns) * 1e3,
            "warm": float(result.warm)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--candles", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--lang", default="python,node", help="which strategies: python (sma-cross), node (simple-ma)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every configuration; figures are medians")
    args = ap.parse_args()
    _Clock.install()
    os.environ.setdefault("PLUGHOST_HOME", tempfile.mkdtemp(prefix="bench-home-"))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        folder = Path(tmp)
        make_data(folder, 4, args.candles)
        for lang in args.lang.split(","):
            bench_language(folder, args, lang, STRATEGIES[lang])


def bench_language(folder: Path, args: argparse.Namespace, lang: str, strategy: str) -> None:
    print(f"{args.runs} runs x {args.candles} candles, {strategy} ({lang}), {os.cpu_count()} cores, "
          f"medians of {args.repeat}")
    print(f"{'warm':>5} {'workers':>7} {'runs/s':>8} {'elapsed s':>9} {'start ms (p50)':>15} "
          f"{'spawn ms (p50)':>15}")
    configs = [(warm, int(w)) for w in args.workers.split(",") for warm in (False, True)]
    samples: dict[tuple[bool, int], list[dict[str, float]]] = {c: [] for c in configs}
    # Round after round, cold and warm alternating: on a shared machine the load drifts between batches.
    for _ in range(args.repeat):
        for warm, workers in configs:
            samples[(warm, workers)].append(one(folder, args.runs, workers, warm, strategy))
    figures = {c: {k: statistics.median(f[k] for f in fs) for k in fs[0]} for c, fs in samples.items()}
    for warm in (False, True):
        for workers in sorted({w for _warm, w in configs}):
            f = figures[(warm, workers)]
            label = ("yes" if f["warm"] else "n/a") if warm else "no"
            print(f"{label:>5} {workers:>7} {f['rps']:>8.1f} {f['elapsed']:>9.2f} {f['start_ms']:>15.2f} "
                  f"{f['spawn_ms']:>15.2f}", flush=True)
    for warm in (False, True):
        if (warm, 1) in figures and (warm, 2) in figures:
            speedup = figures[(warm, 2)]["rps"] / figures[(warm, 1)]["rps"]
            print(f"speed-up 2 vs 1 workers ({'warm' if warm else 'cold'}): {speedup:.2f}x (target >= 1.8x)")
    if (True, 1) in figures:
        target = " (target <= 5 ms)" if lang == "python" else ""
        print(f"median start cost with warm starts: {figures[(True, 1)]['start_ms']:.2f} ms{target}")
    for workers in sorted({w for _warm, w in configs}):
        gain = figures[(True, workers)]["rps"] / figures[(False, workers)]["rps"]
        print(f"warm vs cold runs/s, {workers} worker(s): {gain:.2f}x")
    print()


if __name__ == "__main__":
    main()
