"""summary.json's record, checked against `RunSummary` (executor/summary.py) without importing pydantic when
the summary is plain: every field of the exact JSON type the model keeps as it is. Anything else goes to
the model, which then gives the record (or the error). tests/executor/test_summary_schema.py holds the two
to the same output."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..safefile import json_safe


class _NotPlain(Exception):
    """A value the quick path leaves to the model."""


def _plain(value: Any) -> Any:
    """A copy of plain JSON; `_NotPlain` for anything else (NaN, a tuple, a key that is not a string...)."""
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is list:
        return [_plain(v) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise _NotPlain


def _is(*types: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if type(value) not in types:
            raise _NotPlain
        return _plain(value)
    return check


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _dict_of(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def each(value: Any) -> Any:
        if type(value) is not dict or not all(type(k) is str for k in value):
            raise _NotPlain
        return {k: check(v) for k, v in value.items()}
    return each


def _list_of(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def each(value: Any) -> Any:
        if type(value) is not list:
            raise _NotPlain
        return [check(v) for v in value]
    return each


def _status(value: Any) -> Any:
    if type(value) is not str or value not in ("ok", "failed"):
        raise _NotPlain
    return value


_MISSING = object()
Fields = list[tuple[str, Callable[[Any], Any], Any]]  # (name, check, default; _MISSING: required)


def _record(fields: Fields) -> Callable[[Any], Any]:
    """A model with `extra="allow"`: its fields in order (defaults filled in), then the other keys as given."""
    def check(value: Any) -> Any:
        if type(value) is not dict or not all(type(k) is str for k in value):
            raise _NotPlain
        out = {}
        for name, field_check, default in fields:
            if name in value:
                out[name] = field_check(value[name])
            elif default is _MISSING:
                raise _NotPlain
            else:
                out[name] = _plain(default)
        known = {name for name, _, _ in fields}
        out.update((k, _plain(v)) for k, v in value.items() if k not in known)
        return out
    return check


_STR, _INT, _BOOL = _is(str), _is(int), _is(bool)
_NUMBER = _optional(_is(int, float))  # `float | int | None`: each kept as it is
_FLOAT = _optional(_is(float))
_ANY_DICT = _dict_of(_plain)

_ERROR = _record([("code", _STR, _MISSING), ("message", _STR, _MISSING), ("plugin", _optional(_STR), None)])
_WARNING = _record([("code", _STR, _MISSING), ("message", _optional(_STR), None), ("plugin", _optional(_STR), None)])
_SUMMARY = _record([
    ("run_id", _STR, _MISSING), ("status", _status, _MISSING), ("strategy", _STR, _MISSING),
    ("config", _ANY_DICT, _MISSING), ("error", _optional(_ERROR), _MISSING), ("metrics", _dict_of(_NUMBER), _MISSING),
    ("plugin_metrics", _dict_of(_dict_of(_NUMBER)), {}), ("ignored_signals", _INT, 0), ("rejected_signals", _INT, 0),
    ("rejected_reasons", _dict_of(_INT), {}), ("expired_orders", _INT, 0), ("unmatched_alerts", _INT, 0),
    ("candles", _INT, 0), ("symbols", _list_of(_STR), []), ("symbol_from_file_stem", _BOOL, False),
    ("timestamp_unit", _optional(_STR), None), ("features", _list_of(_STR), []), ("run_config", _ANY_DICT, {}),
    ("warnings", _list_of(_WARNING), []), ("started_at", _FLOAT, None), ("duration_s", _FLOAT, None),
    ("plughost_version", _optional(_STR), None),
])


def summary_record(summary: Mapping[str, Any]) -> dict[str, Any]:
    """`RunSummary.model_validate(json_safe(summary)).model_dump(mode="json")`, pydantic only when needed."""
    data = json_safe(summary)
    try:
        return _SUMMARY(data)  # type: ignore[no-any-return]
    except _NotPlain:
        from .summary import RunSummary

        return RunSummary.model_validate(data).model_dump(mode="json")
