"""The executor's view of indicators; they live in `plughost.indicators` (a leaf package, so the
manifest can check declared indicators too). See `plughost.indicators.kernels` for the definitions."""

from plughost.indicators import (
    INDICATOR_TYPES,
    OUTPUTS,
    IndicatorSpec,
    IndicatorStream,
    MergedIndicatorStream,
    compute_indicators,
    merged_indicators,
    parse_indicators,
)

__all__ = [
    "INDICATOR_TYPES", "OUTPUTS", "IndicatorSpec", "IndicatorStream", "MergedIndicatorStream",
    "compute_indicators", "merged_indicators", "parse_indicators",
]
