"""Fast start of the CLI (docs/performance.md): commands load on use, and a one-run `plughost run` does
without pandas, which pyarrow would import only to probe its types."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
_PROBE = """
import sys
from plughost.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("MODULES", sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "plughost")))
sys.exit(code)
"""


def _bars(path: Path, n: int = 2000) -> None:
    close = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, n)))
    pq.write_table(pa.table({"timestamp": 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 60_000,
                             "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
                             "volume": np.ones(n)}), path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command_and_a_command_loads_only_its_module():
    done = _cli("--help")
    assert done.returncode == 0
    for name in ("run", "results", "report", "list-plugins", "validate-plugin", "enable-plugin", "disable-plugin",
                 "new-plugin"):
        assert f"  {name} " in done.stdout
    version = _cli("--version")
    assert "plughost.cli.run" not in version.stdout and "plughost.executor.engine" not in version.stdout


def test_a_run_does_without_pandas_and_makes_the_same_results(tmp_path):
    _bars(tmp_path / "c.parquet")
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"indicators": {"fast": {"type": "sma", "period": 10},
                                                 "slow": {"type": "sma", "period": 30}}}))
    args = ("run", "--strategy", "bench-sma-ind", "--candles", str(tmp_path / "c.parquet"), "--config", str(config),
            "--plugins-dir", str(REPO / "bench" / "plugins"), "--out", str(tmp_path / "out"))
    lean = _cli(*args, "--run-id", "lean")
    assert lean.returncode == 0, lean.stderr
    assert "'pandas'" not in lean.stdout.split("MODULES", 1)[1]
    assert (tmp_path / "out" / "runs" / "lean" / "report.html").is_file()
    trades = pq.read_table(tmp_path / "out" / "runs" / "lean" / "trades.parquet").to_pylist()
    assert len(trades) > 10
    # rewriting the pages of that folder does without pandas too, and gives the same run page
    page = (tmp_path / "out" / "runs" / "lean" / "report.html").read_bytes()
    (tmp_path / "out" / "runs" / "lean" / "report.html").unlink()
    again = _cli("report", str(tmp_path / "out"))
    assert again.returncode == 0, again.stderr
    assert "'pandas'" not in again.stdout.split("MODULES", 1)[1]
    assert (tmp_path / "out" / "runs" / "lean" / "report.html").read_bytes() == page
    # the same run in a process that has pandas (e.g. the Python API's) gives the same trades
    import pytest

    pytest.importorskip("pandas")
    from plughost.cli import main

    result = CliRunner().invoke(main, [*args, "--run-id", "with-pandas"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out" / "runs" / "with-pandas" / "trades.parquet").to_pylist() == trades
    assert not any(type(f).__name__ == "_NoPandas" for f in sys.meta_path)


# The console entry (plughost.entry:main) as the `plughost` command runs it. Its exit may skip the
# interpreter's teardown, so the probe reports from an atexit handler (those still run).
_ENTRY_PROBE = """
import atexit, os, sys, threading, time, traceback
first_compute = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow.compute" and not first_compute:
            first_compute.append([f.filename for f in traceback.extract_stack()])
        return None

sys.meta_path.insert(0, Watch())
heavy = ("pydantic", "jsonschema", "referencing", "pyarrow.compute", "pandas")
def report():
    stack = first_compute[0] if first_compute else []
    by = next((f for f in stack if "/plughost/" in f and "/entry.py" not in f and "/cli/" not in f), None)
    print("IMPORTED", sorted(m for m in heavy if m in sys.modules), "COMPUTE_BY", by, flush=True)
atexit.register(report)

class Teardown:  # the interpreter's teardown deletes it (the module `os` may be gone by then)
    def __del__(self, write=os.write):
        write(1, b"TORN_DOWN\\n")
keep = Teardown()
if os.environ.get("PROBE_BUSY_THREAD"):  # a non-daemon thread still working when the command is done
    def work():
        time.sleep(4.0)  # longer than the run
        open(os.environ["PROBE_BUSY_THREAD"], "w").write("done")
    threading.Thread(target=work).start()
if os.environ.get("PROBE_OPEN_FILE"):  # a file open for writing, its buffer not flushed
    unflushed = open(os.environ["PROBE_OPEN_FILE"], "w")
    unflushed.write("buffered")
sys.argv = ["plughost", *sys.argv[1:]]
from plughost.entry import main
main()
"""


def _entry(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    _bars(tmp_path / "c.parquet")
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"indicators": {"fast": {"type": "sma", "period": 10},
                                                 "slow": {"type": "sma", "period": 30}}}))
    args = ["run", "--strategy", "bench-sma-ind", "--candles", str(tmp_path / "c.parquet"), "--config", str(config),
            "--plugins-dir", str(REPO / "bench" / "plugins"), "--out", str(tmp_path / "out"), *extra]
    import os

    return subprocess.run([sys.executable, "-c", _ENTRY_PROBE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_a_run_of_valid_plugins_loads_neither_pydantic_nor_jsonschema_nor_pyarrow_compute(tmp_path):
    """pydantic (~0.1 s), jsonschema + referencing (~40 ms) and pyarrow.compute (~50 ms) are for invalid
    manifests and configs, config schemas and casts: a plainly valid run with a Parquet file of int64
    timestamps needs none of them (the report pages, the next step, may still read with pyarrow.compute)."""
    done = _entry(tmp_path, "--run-id", "r")
    assert done.returncode == 0, done.stderr
    line = done.stdout.split("IMPORTED", 1)[1]
    imported, by = line.split("COMPUTE_BY")
    assert imported.strip() in ("[]", "['pyarrow.compute']"), line
    assert "pyarrow.compute" not in imported or "/plughost/reports/" in by, line
    assert json.loads((tmp_path / "out" / "runs" / "r" / "summary.json").read_text())["status"] == "ok"


def test_a_finished_command_skips_the_teardown_but_runs_atexit_and_keeps_its_status(tmp_path):
    done = _entry(tmp_path, "--run-id", "r", "--json")
    assert done.returncode == 0, done.stderr
    assert "IMPORTED" in done.stdout and "TORN_DOWN" not in done.stdout
    assert json.loads(done.stdout.split("IMPORTED")[0])["run_id"] == "r"  # stdout complete before the exit
    again = _entry(tmp_path, "--run-id", "r")  # the folder exists: a usage error, status 2, its message
    assert again.returncode == 2 and "error [OUTPUT_REFUSED]" in again.stderr and "TORN_DOWN" not in again.stdout


def test_a_working_thread_or_an_open_file_gets_the_usual_exit(tmp_path):
    marker = tmp_path / "thread-done"
    done = _entry(tmp_path, "--run-id", "t", env={"PROBE_BUSY_THREAD": str(marker)})
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done" and "TORN_DOWN" in done.stdout
    written = tmp_path / "open.txt"
    done = _entry(tmp_path, "--run-id", "f", env={"PROBE_OPEN_FILE": str(written)})
    assert done.returncode == 0, done.stderr
    assert written.read_text() == "buffered" and "TORN_DOWN" in done.stdout
