"""Candle and alert files: open, validate, stream (one symbol at a time, or all merged by time).

One job a module, importing only downward in this list:

* `checks`  - per-value checks of candle columns, message formatting;
* `columns` - column names (case-insensitive, aliases) and timestamps (any encoding -> int64 ms UTC);
* `formats` - recognising a file and scanning it in batches;
* `merge`   - the chunk records and the merge of all symbols into one time-ordered stream;
* `source`  - `CandleSource`: opening, validating and streaming a candle file;
* `alerts`  - alert files.
"""

from .alerts import AlertList, AlertRecord, load_alerts
from .checks import CANDLE_COLUMNS, PRICE_COLUMNS, VALUE_COLUMNS
from .columns import TIMESTAMP_ALIASES, TIMESTAMP_UNITS, UNIT_BOUNDS
from .merge import CandleChunk, MergedChunk
from .source import CandleSource, open_candles

__all__ = [
    "CANDLE_COLUMNS", "PRICE_COLUMNS", "TIMESTAMP_ALIASES", "TIMESTAMP_UNITS", "UNIT_BOUNDS", "VALUE_COLUMNS",
    "AlertList", "AlertRecord", "CandleChunk", "CandleSource", "MergedChunk", "load_alerts", "open_candles",
]
