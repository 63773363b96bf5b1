"""The look-ahead check of vectorized strategies (docs/orders.md, "Look-ahead check").

A per-candle strategy cannot see the future: the SDK hands it one candle at a time. An `on_batch`
strategy gets the whole batch at once and can peek ahead by accident (a `shift(-1)`, a batch-wide mean, a
centred rolling window). So, on a sample of batches, the SDK replays the strategy on the batch cut short
just after one of the candles it signalled on, from the state it had before the batch, and compares the
signals of the candles both saw. A strategy that only looks back decides the same; one that peeked at the
candles after the cut does not. The finding goes back to the host, which records a LOOKAHEAD_SUSPECTED
warning; nothing else changes. The replays cost at most `BUDGET` of the rows the strategy was given.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable
from typing import Any

from ._batch import CandleBatch
from ._types import Signal

BUDGET = 0.25  # replayed rows / rows given, at most
BatchSignals = list[tuple[int, int | None, Signal]]  # (candle index, alert index or None, signal)


def _key(sig: Signal) -> tuple[Any, ...]:
    return sig._key()


class LookaheadCheck:
    def __init__(self, *, enabled: bool, seed: str = "") -> None:
        self.enabled = enabled
        self.rng = random.Random(seed)
        self.rows = 0
        self.replayed = 0
        self.checks = 0
        self.found: dict[str, Any] | None = None
        self._reported = False

    def before(self, plugin: object, n: int) -> dict[str, Any] | None:
        """The plugin's state before this batch, when the batch may be checked (else None)."""
        self.rows += n
        if not self.enabled or self.found is not None or n < 2:
            return None
        if self.replayed + n // 2 > BUDGET * self.rows and self.checks:  # keep within the budget on average
            return None
        try:
            return copy.deepcopy(vars(plugin))
        except Exception:  # state that cannot be copied (a socket, a lock): this check is skipped
            return None

    def check(self, plugin: object, state: dict[str, Any], batch: CandleBatch, given: BatchSignals,
              decide: Callable[[CandleBatch], BatchSignals]) -> None:
        rows = sorted({at for at, _, _ in given if at + 1 < batch.n})
        if not rows:
            return
        cut = self.rng.choice(rows[: max(1, len(rows) // 2 + 1)]) + 1  # early cuts cost less
        self.checks += 1
        self.replayed += cut
        live = vars(plugin).copy()
        vars(plugin).clear()
        vars(plugin).update(state)
        try:
            seen = decide(batch.head(cut))
        except Exception:  # the strategy failed on the shorter batch: not a look-ahead finding
            return
        finally:
            vars(plugin).clear()
            vars(plugin).update(live)
        full = [(at, alert, _key(sig)) for at, alert, sig in given if at < cut]
        short = [(at, alert, _key(sig)) for at, alert, sig in seen]
        for first, replayed in itertools.zip_longest(full, short):
            if first != replayed:
                at = (first or replayed)[0]
                self.found = {"at": int(at), "cut": cut, "given": len(full), "replayed": len(short)}
                return

    def take(self) -> dict[str, Any] | None:
        """The finding, once (the host keeps the first)."""
        if self.found is None or self._reported:
            return None
        self._reported = True
        return self.found
