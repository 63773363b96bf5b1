"""The host's side of the order book: a plugin's answer checked, replayed through the authoritative book
(`plughost_sdk.orders`, docs/orders.md), compared with the plugin's mirror, and the equity recorded after
each timestamp group."""

from __future__ import annotations

import math

import numpy as np
from plughost_sdk.fastwalk import replay_arrays
from plughost_sdk.orders import OrderBook, Rules, TradeRecord, signal_problem

from ..errors import PluginProtocolError
from ..protocol.messages import BatchResult, BookMirror, CandleBatch, SignalRecord

# Cash and sizes of the mirror may differ from the host's by this relative amount (the TypeScript SDK's
# floats follow the same formulas, but a plugin's own runtime may reorder nothing: 1e-9 is generous).
MIRROR_TOLERANCE = 1e-9


def _fmt_time(ms: int) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ms)


class Ledger:
    def __init__(self, symbols: list[str], rules: Rules, plugin: str) -> None:
        self.book = OrderBook(symbols, rules)
        self.plugin = plugin
        self.symbols = symbols
        self._symbol_set = frozenset(symbols)

    def _bad_signal(self, batch: CandleBatch, sig: SignalRecord, problem: str) -> PluginProtocolError:
        row = sig.at
        where = f"{self.symbols[int(batch.symbol[row])]} {_fmt_time(int(batch.timestamp[row]))}"
        return PluginProtocolError(
            f"plugin '{self.plugin}' sent a signal the host cannot book: {problem} ({sig.describe()}, {where})",
            plugin=self.plugin, hint="fix the signal in the strategy; see docs/orders.md for what each field takes",
        )

    def apply(self, batch: CandleBatch, result: BatchResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Book one batch; returns (timestamp, equity, in_position) after each timestamp group."""
        signals = result.signals
        # Columnar answers say which signals carry anything to check (a level, a size, a symbol, an alert):
        # a plain market entry/exit was fully checked while parsing, so only the rest goes through here.
        for i in range(len(signals)) if result.suspects is None else result.suspects:
            sig = signals[i]
            problem = signal_problem(sig, self._symbol_set)
            if problem is None and sig.alert is not None and batch.alerts[sig.alert].at != sig.at:
                problem = f"it names alert {sig.alert}, which comes before candle {batch.alerts[sig.alert].at}"
            if problem is not None:
                raise self._bad_signal(batch, sig, problem)
        decided = [(sig.at, sig.alert, sig) for sig in signals]
        index = self.book.index
        alerts = [(a.at, a.price, index[a.symbol], a.timestamp) for a in batch.alerts]
        curve = replay_arrays(self.book, batch.timestamp, batch.symbol, batch.open, batch.high, batch.low,
                              batch.close, batch.ends, alerts, decided)
        assert curve is not None
        if result.book is not None:
            self._check_mirror(result.book)
        return curve

    def _check_mirror(self, mirror: BookMirror) -> None:
        ours = self.book.snapshot()

        def close(a: float, b: float) -> bool:
            return math.isclose(a, b, rel_tol=MIRROR_TOLERANCE, abs_tol=MIRROR_TOLERANCE)

        positions = ours["positions"]
        same = close(ours["cash"], mirror.cash) and set(positions) == set(mirror.positions) and all(
            p["side"] == m.side and close(p["size"], m.size) and close(p["entry_price"], m.entry_price)
            and p["entry_timestamp"] == m.entry_timestamp
            for p, m in ((positions[k], mirror.positions[k]) for k in positions)
        )
        if not same:
            theirs = {"cash": mirror.cash, "positions": {k: vars(v) for k, v in mirror.positions.items()}}
            raise PluginProtocolError(
                f"order book mirror diverged: the host booked {ours}, plugin '{self.plugin}' reports {theirs}",
                plugin=self.plugin, hint="the plugin's SDK applies different order rules; upgrade it to match the host",
            )

    def take_trades(self) -> list[TradeRecord]:
        """The trades closed since the last call (the book keeps none: they are streamed to disk)."""
        closed, self.book.trades = self.book.trades, []
        return closed
