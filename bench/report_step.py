"""The HTML step of `plughost run`: a run made in this process, then the reports written as cli/run.py's
`_write_html` writes them (the new run's page and the folder's overview), timed.

    .venv/bin/python bench/report_step.py [--bars 1000000] [--repeat 5] [--work /tmp/report-step]

Each repeat is a fresh interpreter (the step's imports and first calls are part of its cost), a 1M-candle
run of the bench SMA 10/30 crossover with two config indicators (19.6k trades), into a fresh folder.
Prints wall and CPU seconds of the step (and of importing `plughost.reports`), then the medians. To compare
with another version, point PYTHONPATH at its `host` folder (the run and the step then both use it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = {"indicators": {"fast": {"type": "sma", "period": 10}, "slow": {"type": "sma", "period": 30}},
          "batch_size": 8192}

ONE = r"""
import importlib.abc, json, sys, time
from pathlib import Path


class NoPandas(importlib.abc.MetaPathFinder):  # as cli/run.py `_without_pandas`: pyarrow does without it
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(name)


sys.meta_path.insert(0, NoPandas())
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.plugins.registry import Registry

bars, out, plugins, config = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
run = RunConfig.parse({"strategy": "bench-sma-ind", "candles": bars, "config": config, "features": []})
outcome = run_backtest(run, registry=Registry.discover([plugins]), out_dir=out, run_id="r", base_dir=Path.cwd())
assert outcome.status == "ok", outcome.error
wall, cpu = time.perf_counter(), time.process_time()
from plughost.reports import write_reports
imported = time.perf_counter() - wall, time.process_time() - cpu
write_reports(out, base_dir=Path.cwd(), only_stale=True)
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "import_wall": imported[0], "import_cpu": imported[1]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="folder for the bars and the runs (default: a temp)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="report-step-"))
    bars = work / "bars.parquet"
    if not bars.is_file():
        sys.path.insert(0, str(HERE))
        from throughput import make_bars

        make_bars(args.bars, bars)
    rows = []
    for i in range(args.repeat):
        out = work / f"out-{i}"
        if out.exists():
            raise SystemExit(f"{out} exists: pass a fresh --work")
        proc = subprocess.run([sys.executable, "-c", ONE, str(bars), str(out), str(HERE / "plugins"),
                               json.dumps(CONFIG)], capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(" ".join(f"{k} {v:.3f}" for k, v in rows[-1].items()), flush=True)
    print("median " + " ".join(f"{k} {statistics.median(r[k] for r in rows):.3f}" for k in rows[0]))


if __name__ == "__main__":
    main()
