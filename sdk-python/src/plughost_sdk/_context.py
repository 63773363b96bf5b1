"""What a strategy sees besides the event: `ctx.history`, `ctx.indicators`, `ctx.position`,
`ctx.positions`, `ctx.cash`, `ctx.equity`.

These are views the SDK moves forward in place between calls (no per-candle copying), so they are
valid during the call only: copy what you want to keep (`list(ctx.history)`, `dict(ctx.indicators)`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, overload

from ._types import Candle, Position

if TYPE_CHECKING:
    from .orders import OrderBook


class History(Sequence[Candle]):
    """The last `history` candles of the current event's symbol, oldest first, the current one last.

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


class UnknownIndicator(KeyError):
    """Raised for an indicator name the run does not compute (a typo, or one not declared)."""

    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown indicator {name!r}; this run computes: {listed} "
                         "(declare indicators in plugin.json or the run config's `indicators`)")

    def __str__(self) -> str:
        return str(self.args[0])


class Indicators(Mapping[str, float]):
    """Host-computed indicator values at the current candle (NaN until warmed up)."""

    __slots__ = ("_columns", "_i")

    def __init__(self) -> None:
        self._columns: dict[str, list[float]] = {}
        self._i = 0

    def __getitem__(self, name: str) -> float:
        try:
            column = self._columns[name]
        except KeyError:
            raise UnknownIndicator(name, list(self._columns)) from None
        return column[self._i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return repr(dict(self))


_NO_BOOK_CASH = 0.0


class StrategyContext:
    """Passed to every strategy call. `position` is the current event's symbol's position (None when
    flat), `positions` every open position by symbol, `cash` and `equity` the portfolio's as of the last
    candle seen (docs/orders.md)."""

    __slots__ = ("_book", "_sym", "history", "indicators", "run_id", "symbol")

    def __init__(self, run_id: str, book: OrderBook | None = None) -> None:
        self.run_id = run_id
        self.symbol = ""
        self._sym = 0
        self._book = book
        self.history = History()
        self.indicators = Indicators()

    @staticmethod
    def _position(h: object) -> Position:
        return Position(h.entry_price, h.units, h.entry_time, "long" if h.side > 0 else "short")  # type: ignore[attr-defined]

    @property
    def position(self) -> Position | None:
        h = self._book.holdings.get(self._sym) if self._book is not None else None
        return None if h is None else self._position(h)

    @property
    def positions(self) -> dict[str, Position]:
        if self._book is None:
            return {}
        names = self._book.symbols
        return {names[s]: self._position(h) for s, h in sorted(self._book.holdings.items())}

    @property
    def cash(self) -> float:
        return self._book.cash if self._book is not None else _NO_BOOK_CASH

    @property
    def equity(self) -> float:
        return self._book.equity() if self._book is not None else _NO_BOOK_CASH
