"""The run's one stream: every symbol's candles merged by (timestamp, symbol name), with each candle's
indicators and the alerts placed before their timestamp group, cut into protocol batches that never split
a timestamp (PROTOCOL.md section 6)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocol.messages import AlertEvent, CandleBatch
from .data import AlertRecord, CandleSource
from .indicators import IndicatorSpec, MergedIndicatorStream


@dataclass(frozen=True)
class StreamPlan:
    """What the stream holds, known before it starts: the symbols, their candle counts and last times,
    and the alerts that will be delivered (the others are counted as unmatched)."""

    symbols: list[str]
    counts: list[int]
    last_ts: list[int]
    alerts: list[AlertRecord]
    unmatched_alerts: int

    @property
    def candles(self) -> int:
        return sum(self.counts)


def flat_alerts(alerts: Any) -> list[AlertRecord]:
    """Alerts in delivery order: time, then file order (the loader's order among equal times)."""
    if isinstance(alerts, dict):
        alerts = [a for group in alerts.values() for a in group]
    return sorted(alerts, key=lambda a: a.timestamp)


def plan_stream(source: CandleSource, alerts: Iterable[AlertRecord]) -> StreamPlan:
    symbols = source.symbols()
    counts = [source.count(s) for s in symbols]
    last_ts = [_last_timestamp(source, s) for s in symbols]
    last = dict(zip(symbols, last_ts, strict=True))
    kept: list[AlertRecord] = []
    unmatched = 0
    for alert in alerts:
        if alert.symbol in last and alert.timestamp <= last[alert.symbol]:
            kept.append(alert)
        else:  # no candle of its symbol at or after it: nothing could act on it (docs/orders.md section 1)
            unmatched += 1
    return StreamPlan(symbols, counts, last_ts, kept, unmatched)


def _last_timestamp(source: CandleSource, symbol: str) -> int:
    getter = getattr(source, "last_timestamp", None)
    if getter is not None:
        return int(getter(symbol))
    last = None
    for chunk in source.iter_chunks(symbol, rows=1 << 20):
        last = int(chunk.timestamp[-1])
    return -(1 << 62) if last is None else last


def _merged_rows(source: CandleSource, plan: StreamPlan, specs: Sequence[IndicatorSpec],
                 rows: int) -> Iterator[dict[str, np.ndarray]]:
    """Merged columns plus `is_end` and the indicators, in chunks of `rows`.

    `CandleSource.iter_merged` merges the symbols by (timestamp, symbol name) in bounded memory (one
    symbol's chunks pass straight through); each symbol streams through its own indicator state."""
    stream = MergedIndicatorStream(list(specs), plan.symbols)
    for chunk in source.iter_merged(rows):
        yield {"timestamp": chunk.timestamp, "open": chunk.open, "high": chunk.high, "low": chunk.low,
               "close": chunk.close, "volume": chunk.volume, "symbol": chunk.symbol, "is_end": chunk.last_of_symbol,
               **stream.next(chunk)}


def batches(source: CandleSource, plan: StreamPlan, specs: Sequence[IndicatorSpec],
            size: int) -> Iterator[CandleBatch]:
    """Protocol batches of about `size` candles, each ending at a timestamp boundary; the last is marked."""
    names = [o for s in specs for o in s.outputs]  # bbands/macd publish several
    alerts = plan.alerts
    alert_pos = 0
    offset = 0
    buffer: dict[str, np.ndarray] | None = None
    pending: CandleBatch | None = None

    def cut(cols: dict[str, np.ndarray], stop: int) -> CandleBatch:
        nonlocal alert_pos, offset
        ts = cols["timestamp"][:stop]
        batch = CandleBatch(
            plan.symbols, offset, ts, cols["open"][:stop], cols["high"][:stop], cols["low"][:stop],
            cols["close"][:stop], cols["volume"][:stop], cols["symbol"][:stop],
            [int(i) for i in np.flatnonzero(cols["is_end"][:stop])], {n: cols[n][:stop] for n in names},
        )
        last_ts = int(ts[-1])
        events = []
        while alert_pos < len(alerts) and alerts[alert_pos].timestamp <= last_ts:
            a = alerts[alert_pos]
            at = int(np.searchsorted(ts, a.timestamp, side="left"))
            events.append(AlertEvent(at, a.id, a.timestamp, a.symbol, a.price, dict(a.data)))
            alert_pos += 1
        batch.alerts = events
        offset += stop
        return batch

    for chunk in _merged_rows(source, plan, specs, max(size, 65536)):
        buffer = chunk if buffer is None else {c: np.concatenate([buffer[c], chunk[c]]) for c in chunk}
        while True:
            ts = buffer["timestamp"]
            if len(ts) <= size:
                break
            # The first timestamp boundary at or after `size` rows, if the buffer already shows it.
            stop = size + int(np.argmax(ts[size:] != ts[size - 1])) if (ts[size:] != ts[size - 1]).any() else -1
            if stop < 0:
                break
            if pending is not None:
                yield pending
            pending = cut(buffer, stop)
            buffer = {c: col[stop:] for c, col in buffer.items()}
    if buffer is not None and len(buffer["timestamp"]):
        if pending is not None:
            yield pending
        pending = cut(buffer, len(buffer["timestamp"]))
    if pending is not None:
        pending.last = True
        yield pending
