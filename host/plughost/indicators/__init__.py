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

_STREAM = ("IndicatorStream", "MergedIndicatorStream", "compute_indicators")


def __getattr__(name: str) -> object:
    # The streams need numpy (~0.13 s to import); the manifest only checks declarations, so the CLI's
    # plugin commands start without it.
    if name in _STREAM:
        from . import stream

        return getattr(stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INDICATOR_TYPES", "OUTPUTS", "PARAMS", "IndicatorSpec", "IndicatorStream", "MergedIndicatorStream",
    "compute_indicators", "merged_indicators", "parse_indicators",
]
