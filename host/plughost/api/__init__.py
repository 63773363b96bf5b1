"""The Python API: `plughost.run(...)` and `plughost.run_batch(...)` (docs/python-api.md).

    res = plughost.run("sma-cross", candles_table, fast=5, out=None)
    res.status, res.metrics["sharpe"], res.trades.to_pandas()

A run is the same backtest `plughost run` does, in the calling process with its plugins in their own
processes. Input the run cannot start from (an unknown plugin, a bad argument, invalid data or config)
raises a `PlughostError` subclass; a run that starts and fails returns a `Result` whose `status` is
"failed" and whose `error` says why.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError, PlughostError, UsageError
from .outcomes import BatchResult, PathLike, Result, RunError, rows_of

__all__ = ["BatchResult", "Result", "RunError", "run", "run_batch"]


# ------------------------------------------------------------------------------------------------ inputs


def _pandas_frame(value: Any) -> bool:
    pd = sys.modules.get("pandas")  # a DataFrame can only exist when pandas is imported: never import it here
    return pd is not None and isinstance(value, pd.DataFrame)


def _as_table(value: Any, what: str) -> pa.Table | None:
    """An in-memory table given for `what`, as Arrow; None when `value` is a path."""
    if isinstance(value, str | os.PathLike):
        return None
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if _pandas_frame(value):
        frame = value
        index = frame.index
        default = type(index).__name__ == "RangeIndex" and index.name is None and index.start == 0 and index.step == 1
        if not default:  # a time index (yfinance and co.) becomes a column
            names = {str(c).lower() for c in frame.columns}
            frame = frame.reset_index(names=["timestamp"]) if frame.index.nlevels == 1 and "timestamp" not in names \
                else frame.reset_index()
        return pa.Table.from_pandas(frame, preserve_index=False)
    if hasattr(value, "__arrow_c_stream__"):  # polars and other Arrow-speaking frames
        return pa.table(value)
    raise UsageError(f"{what} must be a path, a pyarrow.Table or a pandas DataFrame, not {type(value).__name__}",
                     hint=f"e.g. plughost.run('sma-cross', {what}='prices.parquet')")


def _file_input(value: Any, what: str, folder: Path) -> str:
    try:
        table = _as_table(value, what)
        if table is None:
            return str(os.fspath(value))
        path = folder / f"{what}.parquet"  # the file stem names the symbol when there is no `symbol` column
        pq.write_table(table, path)
    except (pa.ArrowException, TypeError, ValueError) as exc:  # e.g. an object column of mixed types
        raise DataError(f"cannot be stored as Arrow: {exc}", file=f"the {what} table",
                        hint="give every column one type: numbers for prices, times or integers for timestamp") \
            from None
    return str(path)


def _config(config: Mapping[str, Any] | PathLike | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, str | os.PathLike):
        from ..plugins.config import load_config_file

        return load_config_file(Path(config))
    raise UsageError(f"config must be a dict or a path to a JSON/TOML file, not {type(config).__name__}")


def _roots(plugins_dir: PathLike | Sequence[PathLike] | None) -> list[Path]:
    if plugins_dir is None:
        return []
    if isinstance(plugins_dir, str | os.PathLike):
        dirs: list[Any] = [plugins_dir]
    elif isinstance(plugins_dir, list | tuple):
        dirs = list(plugins_dir)
    else:
        raise UsageError(f"plugins_dir must be a folder or a list of folders, not {type(plugins_dir).__name__}")
    out = []
    for d in dirs:
        if not isinstance(d, str | os.PathLike):
            raise UsageError(f"plugins_dir entries must be folder paths, not {type(d).__name__}")
        path = Path(d).expanduser()
        if not path.is_dir():
            raise UsageError(f"plugins_dir {d!s} is not a folder",
                             hint="pass a folder holding plugin folders (directly or one level down)")
        out.append(path)
    return out


def _out_dir(out: Any) -> Path | None:
    if out is None:
        return None
    if not isinstance(out, str | os.PathLike) or not str(out):
        raise UsageError(f"out must be a folder path (or None to keep results in memory), not {out!r}")
    return Path(out).expanduser().absolute()


def _strategy(strategy: Any, roots: list[Path]) -> str:
    """The strategy's name; a plugin folder given by path is added to `roots`."""
    # the rule of `validate-plugin NAME|PATH`: a path has a separator or starts with a dot
    if isinstance(strategy, os.PathLike) or (isinstance(strategy, str) and (os.sep in strategy
                                                                           or strategy.startswith("."))):
        folder = Path(strategy).expanduser()
        if not (folder / "plugin.json").is_file():
            raise UsageError(f"{strategy!s} is not a plugin folder (it has no plugin.json)",
                             hint="pass a plugin name, or the folder that holds plugin.json")
        from ..plugins.registry import scan_single

        roots.insert(0, folder)
        return scan_single(folder).name
    if not isinstance(strategy, str) or not strategy:
        raise UsageError(f"strategy must be a plugin name or a plugin folder, not {strategy!r}",
                         hint="`plughost list-plugins --type strategy` lists the names")
    return strategy


# --------------------------------------------------------------------------------------------------- run


def run(
    strategy: str | os.PathLike[str],
    candles: Any,
    *,
    alerts: Any = None,
    config: Mapping[str, Any] | PathLike | None = None,
    features: Sequence[str | Mapping[str, Any]] = (),
    plugins_dir: PathLike | Sequence[PathLike] | None = None,
    out: PathLike | None = None,
    **run_keys: Any,
) -> Result:
    """Run one backtest and return its `Result`.

    `candles` and `alerts` are paths or in-memory tables (pyarrow or pandas). `config` is the strategy's
    config (a dict or a JSON/TOML path); `run_keys` are the run's own keys (`fee_bps`, `size`,
    `initial_capital`, `indicators`, `start_timeout`, `run_id`, ...), and any other keyword is a strategy
    parameter merged over `config` (`fast=5`). `out=None` keeps the results in
    memory; with a folder they are written to `out/runs/<run_id>/` as by `plughost run --out`.
    Raises a `PlughostError` for input the run cannot start from.
    """
    from ..executor.engine import run_backtest
    from ..executor.runconfig import RunConfig
    from ..plugins.registry import Registry

    if isinstance(features, str):
        features = [features]
    if not isinstance(features, list | tuple):
        raise UsageError(f"features must be a list of names (or dicts), not {type(features).__name__}")
    out_dir = _out_dir(out)
    roots = _roots(plugins_dir)
    name = _strategy(strategy, roots)
    run_id = run_keys.pop("run_id", None) or run_keys.pop("id", None) \
        or f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    with tempfile.TemporaryDirectory(prefix="plughost-") as tmp:
        scratch = Path(tmp)
        own = {k: v for k, v in run_keys.items() if k in RunConfig.model_fields}
        params = {k: v for k, v in run_keys.items() if k not in own}  # like backtesting.py: strategy parameters
        data: dict[str, Any] = {
            **own, "strategy": name, "candles": _file_input(candles, "candles", scratch),
            "alerts": None if alerts is None else _file_input(alerts, "alerts", scratch),
            "config": {**_config(config), **params}, "features": list(features),
        }
        run_config = RunConfig.parse(data, source="plughost.run()")
        from ..batch.spec import RUN_ID_RE

        if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
            raise UsageError(f"run_id {run_id!r} is not a valid run id (letters, digits, '.', '_', '-')")
        registry = Registry.discover(roots or None)
        registry.get_runnable(name, type="strategy")
        for feature in run_config.features:
            registry.get_runnable(feature.name, type="feature")
        outcome = run_backtest(run_config, registry=registry, out_dir=out_dir or scratch / "out", run_id=run_id,
                               base_dir=Path.cwd())
        if outcome.error is not None and outcome.error.exit_status == 2:
            error = outcome.error  # bad input (data, config, manifest): as `plughost run` exits 2
            for what in ("candles", "alerts"):  # name a table given in memory as the user knows it
                temp = str(scratch / f"{what}.parquet")
                error = error.evolve(message=error.message.replace(temp, f"the {what} table"))
                if getattr(error, "file", None) == temp:
                    error = error.evolve(file=f"the {what} table")
            raise error
        if outcome.run_dir is None:
            raise PlughostError(f"run {run_id} wrote no results", hint="this is a plughost bug; please report it")
        if out_dir is not None:  # as `plughost run --out`: the run's page and the folder's overview
            _write_reports(out_dir)
        return Result.load(outcome.run_dir, keep_path=out_dir is not None)


def _write_reports(out_dir: Path) -> None:
    """A report that cannot be written costs a warning, not the run (as in `plughost run`)."""
    from ..reports import write_reports

    try:
        write_reports(out_dir, base_dir=Path.cwd(), only_stale=True)
    except (PlughostError, OSError) as exc:
        warnings.warn(f"plughost: the HTML report was not written: {exc}", stacklevel=3)


def run_batch(
    path_or_runs: PathLike | Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    out: PathLike,
    workers: int | None = None,
    resume: bool = False,
    plugins_dir: PathLike | Sequence[PathLike] | None = None,
    engine: str = "local",
    progress: bool = True,
) -> BatchResult:
    """Run a batch file (TOML/JSON path), a list of run dicts, or a dict with `runs`/`sweeps`/`defaults`
    as a batch file holds, into `out` (required: a batch's journal and results live there). `progress`
    prints a line a finished run on stderr (a bar on a terminal)."""
    from ..batch.cli import check_grid_keys, check_plugins
    from ..batch.progress import BatchProgress
    from ..batch.runner import run_batch as run_batch_files
    from ..batch.spec import load_batch, parse_batch
    from ..plugins.registry import Registry

    out_dir = _out_dir(out)
    if out_dir is None:
        raise UsageError("run_batch needs an out folder", hint="run_batch(..., out='sweep-out')")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise UsageError("workers must be a whole number >= 1", hint="or leave it out: one worker per core")
    if engine not in ("local", "ray"):
        raise UsageError(f"engine must be 'local' or 'ray', not {engine!r}")
    if isinstance(path_or_runs, str | os.PathLike):
        batch = load_batch(Path(path_or_runs))
        label = Path(path_or_runs).name
    else:
        if isinstance(path_or_runs, Mapping):
            data = dict(path_or_runs)
        elif isinstance(path_or_runs, Sequence):
            data = {"runs": [dict(r) if isinstance(r, Mapping) else r for r in path_or_runs]}
        else:
            raise UsageError("run_batch takes a batch file path, a list of runs or a batch dict, "
                             f"not {type(path_or_runs).__name__}")
        batch = parse_batch(data, Path("plughost.run_batch()"))  # relative paths: the working folder
        label = "batch"
    roots = _roots(plugins_dir)
    registry = Registry.discover(roots or None)
    check_plugins(batch, registry)
    check_grid_keys(batch, registry)  # a typo in a sweep's grid is refused before anything runs
    result = run_batch_files(batch, out_dir, registry=registry, engine_name=engine, workers=workers, resume=resume,
                             progress=BatchProgress(enabled=progress, label=label))
    return BatchResult(result.out_dir, rows_of(result.out_dir), result.interrupted)
