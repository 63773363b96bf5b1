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
    # the same run in a process that has pandas (e.g. the Python API's) gives the same trades
    import pytest

    pytest.importorskip("pandas")
    from plughost.cli import main

    result = CliRunner().invoke(main, [*args, "--run-id", "with-pandas"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out" / "runs" / "with-pandas" / "trades.parquet").to_pylist() == trades
    assert not any(type(f).__name__ == "_NoPandas" for f in sys.meta_path)
