"""The same batch through --engine ray (a local Ray instance) gives the local engine's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plughost.batch import load_batch, run_batch
from plughost.plugins.registry import Registry

from .conftest import PLUGINS, load_results, write_batch

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_engine_matches_local(tmp_path: Path, data_dir: Path) -> None:
    runs: list[dict[str, Any]] = [{"strategy": "toy", "candles": str(data_dir / f"c{i}.parquet"),
                                   "config": {"n": n}, "features": ["tally"]} for i in range(2) for n in (5, 20)]
    runs.append({"strategy": "toy", "candles": str(data_dir / "c3.parquet"), "config": {"mode": "raise"}})
    batch = load_batch(write_batch(tmp_path / "b.json", {"runs": runs}))
    registry = Registry.discover([PLUGINS])
    local = run_batch(batch, tmp_path / "local", registry=registry, workers=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_batch(batch, tmp_path / "ray", registry=registry, engine_name="ray", workers=2)
        # resume on the same folder: nothing runs again
        again = run_batch(batch, tmp_path / "ray", registry=registry, engine_name="ray", workers=2, resume=True)
    finally:
        ray.shutdown()
    assert [r.status for r in remote.rows] == [r.status for r in local.rows] == ["ok"] * 4 + ["failed"]
    assert remote.rows[-1].error_code == "PLUGIN_ERROR"
    assert load_results(tmp_path / "ray") == load_results(tmp_path / "local")
    assert again.skipped == 5 and again.exit_code == 1
    assert (tmp_path / "ray" / "report.html").is_file()
