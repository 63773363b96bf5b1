"""Indicators: declarations (`spec`), kernels (`kernels`) and streams (`stream`).

A leaf package (numpy and `plughost.errors` only), so the manifest can check a plugin's declared
indicators and the executor and `validate-plugin` can compute them.
"""

from .spec import (
    INDICATOR_TYPES,
    OUTPUTS,
    PARAMS,
    IndicatorSpec,
    merged_indicators,
    parse_indicators,
)
from .stream import IndicatorStream, MergedIndicatorStream, compute_indicators

__all__ = [
    "INDICATOR_TYPES", "OUTPUTS", "PARAMS", "IndicatorSpec", "IndicatorStream", "MergedIndicatorStream",
    "compute_indicators", "merged_indicators", "parse_indicators",
]
