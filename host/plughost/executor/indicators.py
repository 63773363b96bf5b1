"""The executor's view of indicators; they live in `plughost.indicators` (a leaf package, so the
manifest can check declared indicators too). See `plughost.indicators.kernels` for the definitions."""

from plughost.indicators.spec import INDICATOR_TYPES, OUTPUTS, IndicatorSpec, merged_indicators, parse_indicators
from plughost.indicators.stream import IndicatorStream, MergedIndicatorStream, compute_indicators

__all__ = [
    "INDICATOR_TYPES", "OUTPUTS", "IndicatorSpec", "IndicatorStream", "MergedIndicatorStream",
    "compute_indicators", "merged_indicators", "parse_indicators",
]
