"""What a strategy sees besides the event: `ctx.history`, `ctx.indicators`, `ctx.position`.

These are views the SDK moves forward in place between calls (no per-candle copying), so they are
valid during the call only: copy what you want to keep (`list(ctx.history)`, `dict(ctx.indicators)`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import overload

from ._types import Candle, Position


class History(Sequence[Candle]):
    """The last `history` candles of this symbol, oldest first, the current one last.

    Indexing past the current candle raises IndexError: a strategy can never look ahead.
    """

    __slots__ = ("_end", "_items", "_start")

    def __init__(self) -> None:
        self._items: list[Candle] = []
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, index: int) -> Candle: ...
    @overload
    def __getitem__(self, index: slice) -> list[Candle]: ...
    def __getitem__(self, index: int | slice) -> Candle | list[Candle]:
        if isinstance(index, slice):
            return self._items[self._start : self._end][index]
        size = self._end - self._start
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("history index out of range (only candles up to the current one are visible)")
        return self._items[self._start + index]

    def __iter__(self) -> Iterator[Candle]:
        items = self._items
        for i in range(self._start, self._end):
            yield items[i]

    def closes(self) -> list[float]:
        """The close prices of the window, oldest first (a convenience for indicator code)."""
        return [c.close for c in self._items[self._start : self._end]]

    def __repr__(self) -> str:
        return f"<History {len(self)} candles>"


class Indicators(Mapping[str, float]):
    """Host-computed indicator values at the current candle (NaN until warmed up)."""

    __slots__ = ("_columns", "_i")

    def __init__(self) -> None:
        self._columns: dict[str, list[float]] = {}
        self._i = 0

    def __getitem__(self, name: str) -> float:
        return self._columns[name][self._i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return repr(dict(self))


class StrategyContext:
    """Passed to every strategy call. `position` is None when flat."""

    __slots__ = ("history", "indicators", "position", "run_id", "symbol")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.symbol = ""
        self.position: Position | None = None
        self.history = History()
        self.indicators = Indicators()
