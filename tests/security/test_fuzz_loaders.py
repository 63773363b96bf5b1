"""Fuzzing every file loader the host builds on: each may only raise its file's own error, and no input
may take over 1 s. Same profiles as tests/faults/test_fuzz.py: 400 examples per target by default,
`PLUGHOST_FUZZ_EXAMPLES=100000` for the full size."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plughost.batch import load_batch
from plughost.errors import ConfigError, DataError, PlughostError, StateError
from plughost.executor.data import load_alerts
from plughost.plugins.config import load_config_file, load_schema
from plughost.plugins.manifest import read_manifest
from plughost.plugins.registry import read_disabled
from plughost.safefile import FileLimitError, loads_json, loads_toml

EXAMPLES = int(os.environ.get("PLUGHOST_FUZZ_EXAMPLES", "400"))  # per target; 8 targets
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=1), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DIR = Path(tempfile.mkdtemp(prefix="plughost-fuzz-"))

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False) | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)
KEYS = ["runs", "sweeps", "batch", "defaults", "strategy", "candles", "config", "grid", "id", "features", "alerts",
        "max_runs", "call_timeout", "env", "sandbox", "$ref", "$defs", "type", "properties", "items", "allOf",
        "name", "version", "entry", "language", "configSchema", "disabled", "timestamp", "symbol", "price"]
keyed = st.recursive(scalars | st.sampled_from(KEYS), lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4),
                     max_leaves=16)


def json_texts() -> st.SearchStrategy[str]:
    deep = st.integers(1, 5000).map(lambda n: "[" * n + "]" * n) | st.integers(1, 5000).map(
        lambda n: '{"a":' * n + "1" + "}" * n)
    return st.text(max_size=200) | keyed.map(json.dumps) | deep | st.integers(-(2**80), 2**80).map(str)


def only(errors: tuple[type[BaseException], ...], fn: Any, *args: Any, **kwargs: Any) -> None:
    began = time.monotonic()
    with contextlib.suppress(*errors):
        fn(*args, **kwargs)
    assert time.monotonic() - began < 1.0


def write(name: str, text: str) -> Path:
    path = DIR / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@FUZZ
@given(json_texts())
def test_loads_json(text: str) -> None:
    only((FileLimitError,), loads_json, text)


@FUZZ
@given(st.text(max_size=200) | keyed.map(lambda v: "a = " + json.dumps(v)))
def test_loads_toml(text: str) -> None:
    only((FileLimitError,), loads_toml, text)


@FUZZ
@given(json_texts())
def test_manifest(text: str) -> None:
    folder = DIR / "plugin"
    folder.mkdir(exist_ok=True)
    path = folder / "plugin.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    began = time.monotonic()
    read_manifest(path)  # never raises: problems are diagnostics
    assert time.monotonic() - began < 1.0


@FUZZ
@given(json_texts(), st.sampled_from([".json", ".toml"]))
def test_config_file(text: str, suffix: str) -> None:
    only((ConfigError,), load_config_file, write("config" + suffix, text))


@FUZZ
@given(keyed.map(json.dumps) | json_texts(), st.sampled_from([".json", ".toml"]))
def test_batch_file(text: str, suffix: str) -> None:
    only((PlughostError,), load_batch, write("batch" + suffix, text))


@FUZZ
@given(st.lists(keyed, max_size=4), st.booleans())
def test_alert_file(rows: list[Any], lines: bool) -> None:
    text = "\n".join(json.dumps(r) for r in rows) if lines else json.dumps(rows)
    only((DataError,), load_alerts, write("alerts.jsonl" if lines else "alerts.json", text))


@FUZZ
@given(json_texts())
def test_state_file(text: str) -> None:
    home = DIR / "home"
    home.mkdir(exist_ok=True)
    (home / "state.json").write_bytes(text.encode("utf-8", "surrogatepass"))
    only((StateError,), read_disabled, home)


@FUZZ
@given(keyed)
def test_config_schema(schema: Any) -> None:
    folder = DIR / "schema-plugin"
    folder.mkdir(exist_ok=True)
    (folder / "schema.json").write_text(json.dumps(schema))

    def load_and_use() -> None:  # as `plughost run` does: a schema with static errors is refused, else used
        ps = load_schema(Path("schema.json"), folder, plugin="p")
        if not any(d.is_error for d in ps.diagnostics()):
            ps.problems(ps.apply_defaults({}))

    only((ConfigError,), load_and_use)
