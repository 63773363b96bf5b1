"""The run's seams (RunHooks): every plugin of a run is started through the loader passed in, and the hook
before publishing sees the run's files complete, not yet renamed into place. Nothing is patched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from plughost.executor.engine import run_backtest
from plughost.executor.runconfig import RunConfig
from plughost.executor.runhooks import RunHooks
from plughost.plugins.loader import load_plugin
from plughost.plugins.registry import PluginEntry, Registry

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "plugins"
T0 = 1_700_000_000_000


def write_candles(path: Path, n: int = 4) -> list[int]:
    ts = [T0 + i * 60_000 for i in range(n)]
    close = [10.0 + i for i in range(n)]
    pq.write_table(pa.table({"timestamp": ts, "open": close, "high": close, "low": close, "close": close,
                             "volume": [1.0] * n}), path)
    return ts


def test_every_plugin_is_started_by_the_loader_passed_in(tmp_path: Path) -> None:
    ts = write_candles(tmp_path / "c.parquet")
    registry = Registry.discover([FIXTURES, REPO / "plugins"], use_cache=False)
    run = RunConfig.parse({"strategy": "scripted", "candles": str(tmp_path / "c.parquet"),
                           "config": {"candles": {str(ts[0]): ["entry"]}}, "features": ["custom-metrics"]})
    started: list[tuple[str, dict[str, Any]]] = []
    published: list[tuple[str, list[str]]] = []

    def loader(entry: PluginEntry, **kwargs: Any) -> Any:
        started.append((entry.name, kwargs))
        return load_plugin(entry, **kwargs)

    def before_publish(final: Path) -> None:
        temporary = [p for p in final.parent.iterdir() if p.name.startswith(".tmp-r1-")]
        assert len(temporary) == 1 and not final.exists()
        published.append((final.name, sorted(p.name for p in temporary[0].iterdir())))

    outcome = run_backtest(run, registry=registry, out_dir=tmp_path / "out", run_id="r1",
                           hooks=RunHooks(load_plugin=loader, before_publish=before_publish))
    assert outcome.status == "ok", outcome.error
    assert sorted(name for name, _ in started) == ["custom-metrics", "scripted"]
    assert all(set(kw) == {"start_timeout", "call_timeout", "extra_env", "sandbox", "spawner"} for _, kw in started)
    ((name, files),) = published
    assert name == "r1" and {"equity.parquet", "summary.json", "trades.parquet"} <= set(files)
    assert json.loads((tmp_path / "out" / "runs" / "r1" / "summary.json").read_text())["status"] == "ok"


def test_a_failing_loader_fails_the_run_not_the_host(tmp_path: Path) -> None:
    write_candles(tmp_path / "c.parquet")
    registry = Registry.discover([FIXTURES, REPO / "plugins"], use_cache=False)
    run = RunConfig.parse({"strategy": "scripted", "candles": str(tmp_path / "c.parquet")})

    def loader(entry: PluginEntry, **kwargs: Any) -> Any:
        raise RuntimeError("no plugins today")

    outcome = run_backtest(run, registry=registry, out_dir=tmp_path / "out", run_id="r2",
                           hooks=RunHooks(load_plugin=loader))
    assert outcome.status == "failed" and outcome.error is not None
    assert "no plugins today" in outcome.error.message
