"""What a run records in summary.json `warnings`: typed records, kept in one list per run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import PlughostError, WarningCode


@dataclass(frozen=True)
class RunWarning:
    """One warning: its code (docs/troubleshooting.md), the plugin concerned, and the rest of what the
    record says (`message`, `hint`, `hook`, `count`, `symbol`, `timestamp`, an error's own fields)."""

    code: str
    plugin: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_error(cls, code: str, error: PlughostError, **fields: Any) -> RunWarning:
        """A warning carrying an error's record (its `code` kept as `cause` when the warning's differs)."""
        record = {**error.to_dict(), **fields}
        record.pop("code", None)
        plugin = record.pop("plugin", None)
        if code != error.code:
            record.setdefault("cause", error.code)
        return cls(code, plugin, record)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "plugin": self.plugin, **self.fields}


class RunWarnings:
    """The run's warnings in the order they happened; a hook failing again is counted, not repeated."""

    def __init__(self) -> None:
        self._items: list[RunWarning] = []

    def add(self, warning: RunWarning) -> None:
        self._items.append(warning)

    def count(self, warning: RunWarning) -> None:
        """Add `warning`, or raise the `count` of the one with the same code, plugin and hook."""
        hook = warning.fields.get("hook")
        for i, seen in enumerate(self._items):
            if (seen.code, seen.plugin, seen.fields.get("hook")) == (warning.code, warning.plugin, hook):
                total = int(seen.fields.get("count", 1)) + int(warning.fields.get("count", 1))
                self._items[i] = replace(seen, fields={**seen.fields, "count": total})
                return
        self._items.append(warning)

    def has(self, code: WarningCode) -> bool:
        return any(w.code == code for w in self._items)

    def __iter__(self) -> Iterator[RunWarning]:
        return iter(self._items)

    def to_list(self) -> list[dict[str, Any]]:
        return [w.to_dict() for w in self._items]


__all__ = ["RunWarning", "RunWarnings"]
