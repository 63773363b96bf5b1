"""plughost: a subprocess-isolated, multi-language plugin host for trading backtests."""

__version__ = "0.1.0"
