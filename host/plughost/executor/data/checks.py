"""Per-value checks of candle columns, and the formatting their messages share."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
CANDLE_COLUMNS = ("timestamp", *VALUE_COLUMNS)

F64Array = np.ndarray[Any, np.dtype[np.float64]]
I64Array = np.ndarray[Any, np.dtype[np.int64]]


class BadValue(Exception):
    """A bad value at a batch-local index; the caller maps the index to a file row and names the column."""

    def __init__(self, index: int, column: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.column = column
        self.message = message


def first_null(arr: pa.Array) -> int:
    return int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])


def values_f64(arr: pa.Array, column: str) -> F64Array:
    if arr.null_count:
        raise BadValue(first_null(arr), column, f"missing value in '{column}'")
    if arr.type != pa.float64():
        import pyarrow.compute as pc  # here, not at the top: pyarrow.compute costs ~50 ms of start-up

        arr = pc.cast(arr, pa.float64(), safe=False)
    return arr.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def check_values(cols: Mapping[str, np.ndarray]) -> None:
    """Raise `BadValue` for the earliest bad row (ties: column order) among the given columns.

    Prices must be finite and > 0 (a zero price has no return and no position size), volume finite and
    >= 0, and high >= low. Open and close outside [low, high] are allowed: some venues print them so.
    """
    best: tuple[int, int, str, str] | None = None
    order = 0
    for name in VALUE_COLUMNS:
        if name not in cols:
            continue
        x = cols[name]
        bad = ~np.isfinite(x) | ((x < 0) if name == "volume" else (x <= 0))
        if bad.any():
            i = int(np.argmax(bad))
            v = float(x[i])
            if math.isnan(v):
                what = "NaN"
            elif math.isinf(v):
                what = "infinite"
            else:
                what = f"negative ({v!r})" if v < 0 else f"zero ({v!r}); prices must be > 0"
            kind = "price" if name != "volume" else "volume"
            cand = (i, order, name, f"{kind} '{name}' is {what}")
            if best is None or cand[:2] < best[:2]:
                best = cand
        order += 1
    if "high" in cols and "low" in cols:
        h, lo = cols["high"], cols["low"]
        bad = h < lo
        if bad.any():
            i = int(np.argmax(bad))
            cand = (i, order, "high", f"high ({float(h[i])!r}) is below low ({float(lo[i])!r})")
            if best is None or cand[:2] < best[:2]:
                best = cand
    if best is not None:
        raise BadValue(best[0], best[2], best[3])


def fmt_ts(ms: int) -> str:
    try:
        when = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return f"{ms} ({when.isoformat(timespec='milliseconds').replace('+00:00', 'Z')})"
