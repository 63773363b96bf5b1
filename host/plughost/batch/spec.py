"""Batch files: a list of runs plus sweeps, expanded into `RunSpec`s with stable, content-derived ids.

    batch = load_batch(Path("sweep.toml"))          # BatchSpec: runs, options, base_dir
    for spec in batch.runs: spec.id, spec.run        # RunConfig, validated

A batch file (TOML or JSON) holds:

    [batch]      options: max_retries, retry_errors, quarantine_after, warm_starts
    [defaults]   keys merged into every run and sweep (a run's own keys win; `config` is merged key by key)
    [[runs]]     one run each: id?, strategy, candles, alerts, config (object or JSON/TOML path),
                 features, start_timeout, call_timeout, and the run keys size, fee_bps, ...
    [[sweeps]]   like a run, but `candles` may be a list or a glob, and `grid` maps config keys
                 (dotted for nested objects) to lists of values: one run per file x grid point

Relative paths are relative to the batch file. A run without `id` is named
`<strategy>-<candles stem>-<10 hex digits of the sha256 of its canonical spec>`, so the same run in a
re-read batch file gets the same id (resume relies on it). The canonical spec is the validated run with
values equal to their defaults left out (so `fee_bps = 0` and no `fee_bps` are the same run, and a new
run key in a later plughost version does not rename old runs); timeouts are not part of it either.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BatchFileError, ConfigError, PlughostError, error_classes
from ..executor.runconfig import RunConfig
from ..plugins.config import load_config_file
from ..safefile import FileLimitError, load_structured

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TOP_KEYS = frozenset({"runs", "sweeps", "batch", "defaults"})
SWEEP_ONLY_KEYS = frozenset({"grid"})
# the codes whose error class says `retryable` (PLUGIN_CRASHED, PLUGIN_TIMEOUT, PLUGIN_START_TIMEOUT, WORKER_LOST)
RETRYABLE_DEFAULT = tuple(cls.code for cls in error_classes() if cls.retryable)
ID_EXCLUDED_KEYS = ("id", "start_timeout", "call_timeout", "sandbox")
MAX_RUNS_DEFAULT = 100_000


@dataclass
class BatchOptions:
    """The `[batch]` table. Every key is optional."""

    max_retries: int = 2                 # extra attempts for a run whose plugin process died
    retry_errors: tuple[str, ...] = ()   # further codes to retry (e.g. "PLUGIN_ERROR"), opt-in
    quarantine_after: int = 5            # crashes of one plugin since its last success -> quarantined
    warm_starts: bool = True             # serve plugin spawns (Python, Node) from a warm pool when available
    max_runs: int = MAX_RUNS_DEFAULT     # refuse a batch that expands to more runs (counted, not expanded)
    sandbox: bool = False                # every run's plugins sandboxed (a run's own `sandbox` key wins)

    @property
    def retryable(self) -> frozenset[str]:
        return frozenset(RETRYABLE_DEFAULT) | frozenset(self.retry_errors)


@dataclass
class RunSpec:
    index: int                  # position in the expanded batch (0-based)
    origin: str                 # where it came from: "runs[2]", "sweeps[0] #5 (fast=5, slow=30)"
    id: str
    run: RunConfig
    spec: dict[str, Any]        # the canonical spec the id hashes (JSON-able)
    params: dict[str, Any] = field(default_factory=dict)  # a sweep's grid point {dotted key: value}; reports

    def label(self) -> str:
        return f"run {self.index} ({self.origin})"


@dataclass
class BatchSpec:
    path: Path
    base_dir: Path
    runs: list[RunSpec]
    options: BatchOptions = field(default_factory=BatchOptions)

    def by_id(self) -> dict[str, RunSpec]:
        return {r.id: r for r in self.runs}


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise BatchFileError(f"batch file {path} must be .toml or .json", file=str(path))
    try:
        data: Any = load_structured(path)
    except OSError as exc:
        raise BatchFileError(f"cannot read batch file {path}: {exc.strerror or exc}", file=str(path),
                             hint="check the path given to --batch") from None
    except FileLimitError as exc:
        raise BatchFileError(f"{path} is {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise BatchFileError(f"{path}: the top level must be an object with a `runs` list", file=str(path))
    return data


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def derive_run_id(spec: dict[str, Any]) -> str:
    """`<strategy>-<candles stem>-<hash>`: readable, and stable for the same run content."""
    digest = hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(spec.get("candles", "data"))).stem)[:40].strip("._-")
    strategy = re.sub(r"[^A-Za-z0-9._-]+", "_", str(spec.get("strategy", "run")))[:40]
    return f"{strategy}-{stem or 'data'}-{digest}"


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _merge_defaults(defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    out = {**defaults, **entry}
    if isinstance(defaults.get("config"), dict) and isinstance(entry.get("config"), dict):
        out["config"] = {**defaults["config"], **entry["config"]}
    return out


class _Expander:
    def __init__(self, path: Path, cli_defaults: dict[str, Any], max_runs: int = MAX_RUNS_DEFAULT) -> None:
        self.path = path
        self.max_runs = max_runs
        self.base_dir = path.parent.resolve()
        self.cli_defaults = cli_defaults
        self.runs: list[RunSpec] = []

    def fail(self, where: str, key: str | None, message: str, hint: str | None = None) -> BatchFileError:
        run = f"run {len(self.runs)} ({where})"
        at = f"{run}, key '{key}'" if key else run
        return BatchFileError(f"{self.path}: {at}: {message}", file=str(self.path), hint=hint)

    def _config(self, where: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return dict(value)
        if isinstance(value, str):
            file = Path(value).expanduser()
            file = file if file.is_absolute() else self.base_dir / file
            try:
                return load_config_file(file)
            except PlughostError as exc:
                raise self.fail(where, "config", exc.message, hint="a config path is relative to the batch file") \
                    from None
        raise self.fail(where, "config", f"must be an object or a path to a JSON/TOML file, not {type(value).__name__}")

    def _check_file(self, where: str, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, key, "must be a path (string)")
        file = Path(value).expanduser()
        real = file if file.is_absolute() else self.base_dir / file
        if not real.is_file():
            raise self.fail(where, key, f"file not found: {real}", hint="paths are relative to the batch file")
        return value

    def add(self, where: str, entry: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        if "strategy" not in entry:
            raise self.fail(where, "strategy", "missing (every run names its strategy plugin)")
        data = {**self.cli_defaults, **entry}
        data["config"] = self._config(where, entry.get("config"))
        self._check_file(where, "candles", data.get("candles"))
        if data.get("alerts") is not None:
            self._check_file(where, "alerts", data.get("alerts"))
        explicit_id = data.pop("id", None)
        index = len(self.runs)
        try:
            run = RunConfig.parse(data, source=f"{self.path}: run {index} ({where})")
        except ConfigError as exc:
            raise BatchFileError(exc.message, file=str(self.path), hint=exc.hint, problems=exc.problems) from None
        # defaults left out: a new RunConfig field (with its default) must not change every run's id
        spec = {k: v for k, v in run.model_dump(mode="json", by_alias=True, exclude_defaults=True).items()
                if k not in ID_EXCLUDED_KEYS}
        if explicit_id is not None:
            if not isinstance(explicit_id, str) or not RUN_ID_RE.match(explicit_id):
                raise self.fail(where, "id", f"{explicit_id!r} is not a usable folder name",
                                hint="use letters, digits, '.', '_' and '-' (up to 128), starting with a letter/digit")
            run_id = explicit_id
        else:
            run_id = derive_run_id(spec)
        run = run.model_copy(update={"id": run_id})
        self.runs.append(RunSpec(index, where, run_id, run, spec, dict(params or {})))

    def expand_sweep(self, where: str, sweep: dict[str, Any], defaults: dict[str, Any]) -> None:
        entry = _merge_defaults(defaults, {k: v for k, v in sweep.items() if k not in SWEEP_ONLY_KEYS})
        prefix = entry.pop("id", None)
        if prefix is not None and (not isinstance(prefix, str) or not RUN_ID_RE.match(prefix)):
            raise self.fail(where, "id", f"{prefix!r} is not a usable id prefix")
        files = self._candle_files(where, entry.get("candles"))
        grid = sweep.get("grid") or {}
        if not isinstance(grid, dict):
            raise self.fail(where, "grid", "must be an object mapping config keys to lists of values")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise self.fail(where, f"grid.{key}", "must be a non-empty list of values")
        keys = list(grid)
        count = len(files) * math.prod(len(grid[k]) for k in keys)
        if len(self.runs) + count > self.max_runs:
            raise BatchFileError(
                f"{self.path}: {where} expands to {count:,} runs ({len(files)} candle file(s) x "
                f"{' x '.join(str(len(grid[k])) for k in keys) or '1'} grid points), "
                f"{len(self.runs) + count:,} with the runs before it; the limit is {self.max_runs:,}",
                file=str(self.path),
                hint="split the sweep, use a coarser grid, or raise [batch] max_runs deliberately")
        base_config = self._config(where, entry.get("config"))
        n = 0
        for file in files:
            points: Any = itertools.product(*(grid[k] for k in keys)) if keys else [()]
            for point in points:
                config = json.loads(json.dumps(base_config))
                for key, value in zip(keys, point, strict=True):
                    _set_dotted(config, key, value)
                label = ", ".join(f"{k}={v}" for k, v in zip(keys, point, strict=True))
                run = {**entry, "candles": file, "config": config}
                if prefix is not None:
                    run["id"] = f"{prefix}-{n:04d}"
                self.add(f"{where} #{n} ({Path(file).name}{'; ' + label if label else ''})", run,
                         params=dict(zip(keys, point, strict=True)))
                n += 1

    def _candle_files(self, where: str, value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        files: list[str] = []
        for item in items:
            if not isinstance(item, str) or not item:
                raise self.fail(where, "candles", "must be a path, a glob, or a list of them")
            if glob.has_magic(item):
                pattern = item if Path(item).is_absolute() else str(self.base_dir / item)
                found = sorted(glob.glob(pattern, recursive=True))
                if not found:
                    raise self.fail(where, "candles", f"the glob {item!r} matches no file",
                                    hint="globs are relative to the batch file")
                for f in found:
                    p = Path(f)
                    files.append(str(p.relative_to(self.base_dir)) if p.is_relative_to(self.base_dir) else f)
            else:
                files.append(item)
        return files


def load_batch(path: Path, *, cli_defaults: dict[str, Any] | None = None) -> BatchSpec:
    """Read and expand a batch file. Raises `BatchFileError` naming the run index and key at fault."""
    return parse_batch(_read(path), path, cli_defaults=cli_defaults)


def parse_batch(data: dict[str, Any], path: Path, *, cli_defaults: dict[str, Any] | None = None) -> BatchSpec:
    """Expand a batch already read (the Python API passes its runs here, `path` a name in the working
    folder). Relative paths are relative to `path`'s folder."""
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise BatchFileError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; expected runs, sweeps, "
                             "batch, defaults", file=str(path))
    options = _options(path, data.get("batch") or {})
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise BatchFileError(f"{path}: `defaults` must be a table/object", file=str(path))
    runs, sweeps = data.get("runs", []), data.get("sweeps", [])
    if not isinstance(runs, list) or not isinstance(sweeps, list):
        raise BatchFileError(f"{path}: `runs` and `sweeps` must be lists", file=str(path))
    if not runs and not sweeps:
        raise BatchFileError(f"{path} lists no runs", file=str(path),
                             hint="add [[runs]] entries (strategy, candles, config) or a [[sweeps]] grid")
    if len(runs) > options.max_runs:
        raise BatchFileError(f"{path} lists {len(runs):,} runs; the limit is {options.max_runs:,}", file=str(path),
                             hint="split the batch, or raise [batch] max_runs deliberately")
    base = {"sandbox": True} if options.sandbox else {}
    ex = _Expander(path, {**base, **(cli_defaults or {})}, options.max_runs)
    for i, entry in enumerate(runs):
        if not isinstance(entry, dict):
            raise ex.fail(f"runs[{i}]", None, "must be an object")
        if "grid" in entry:
            raise ex.fail(f"runs[{i}]", "grid", "is only allowed in [[sweeps]]")
        ex.add(f"runs[{i}]", _merge_defaults(defaults, entry))
    for i, sweep in enumerate(sweeps):
        if not isinstance(sweep, dict):
            raise ex.fail(f"sweeps[{i}]", None, "must be an object")
        ex.expand_sweep(f"sweeps[{i}]", sweep, defaults)
    seen: dict[str, RunSpec] = {}
    for spec in ex.runs:
        if spec.id in seen:
            other = seen[spec.id]
            raise BatchFileError(
                f"{path}: {spec.label()} and {other.label()} have the same id {spec.id!r}"
                + (" (they are the same run)" if spec.spec == other.spec else ""),
                file=str(path), hint="remove the duplicate or give one of them another `id`")
        seen[spec.id] = spec
    return BatchSpec(path, ex.base_dir, ex.runs, options)


def _options(path: Path, raw: Any) -> BatchOptions:
    if not isinstance(raw, dict):
        raise BatchFileError(f"{path}: `batch` must be a table/object", file=str(path))
    opts = BatchOptions()
    for key, value in raw.items():
        if key == "max_runs":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BatchFileError(f"{path}: batch.max_runs must be a whole number >= 1", file=str(path))
            opts.max_runs = value
        elif key in ("max_retries", "quarantine_after"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise BatchFileError(f"{path}: batch.{key} must be a whole number >= 0", file=str(path))
            setattr(opts, key, value)
        elif key == "retry_errors":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BatchFileError(f"{path}: batch.retry_errors must be a list of error codes", file=str(path))
            opts.retry_errors = tuple(value)
        elif key == "sandbox":
            if not isinstance(value, bool):
                raise BatchFileError(f"{path}: batch.sandbox must be true or false", file=str(path))
            opts.sandbox = value
        elif key == "warm_starts":
            if not isinstance(value, bool):
                raise BatchFileError(f"{path}: batch.warm_starts must be true or false", file=str(path))
            opts.warm_starts = value
        else:
            raise BatchFileError(f"{path}: unknown key batch.{key}; expected max_retries, retry_errors, "
                                 "quarantine_after, warm_starts, max_runs, sandbox", file=str(path))
    return opts
