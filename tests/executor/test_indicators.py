"""Indicators: values against plain-loop references, warm-up, and bit-identical streaming."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plughost.errors import ConfigError
from plughost.executor.data import open_candles
from plughost.executor.indicators import (
    IndicatorSpec,
    IndicatorStream,
    compute_indicators,
    parse_indicators,
)


# ------------------------------------------------------------------------ straightforward references
def ref_sma(c: list[float], p: int) -> list[float]:
    return [math.nan if i < p - 1 else sum(c[i - p + 1:i + 1]) / p for i in range(len(c))]


def ref_ema(c: list[float], p: int) -> list[float]:
    out = [math.nan] * len(c)
    if len(c) < p:
        return out
    a = 2 / (p + 1)
    e = sum(c[:p]) / p
    out[p - 1] = e
    for i in range(p, len(c)):
        e = a * c[i] + (1 - a) * e
        out[i] = e
    return out


def ref_rsi(c: list[float], p: int) -> list[float]:
    out = [math.nan] * len(c)
    if len(c) <= p:
        return out
    gains = [max(c[i] - c[i - 1], 0.0) for i in range(1, len(c))]
    losses = [max(c[i - 1] - c[i], 0.0) for i in range(1, len(c))]
    g = sum(gains[:p]) / p
    lo = sum(losses[:p]) / p

    def rsi(g: float, lo: float) -> float:
        return 50.0 if g + lo == 0 else 100.0 * g / (g + lo)

    out[p] = rsi(g, lo)
    for i in range(p + 1, len(c)):
        g = (g * (p - 1) + gains[i - 1]) / p
        lo = (lo * (p - 1) + losses[i - 1]) / p
        out[i] = rsi(g, lo)
    return out


def ref_atr(h: list[float], lo: list[float], c: list[float], p: int) -> list[float]:
    tr = [h[0] - lo[0]] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))
    ]
    out = [math.nan] * len(c)
    if len(c) < p:
        return out
    a = sum(tr[:p]) / p
    out[p - 1] = a
    for i in range(p, len(c)):
        a = (a * (p - 1) + tr[i]) / p
        out[i] = a
    return out


def series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * (1 + rng.random(n) * 0.01)
    low = close * (1 - rng.random(n) * 0.01)
    return high, low, close


SPECS = [
    IndicatorSpec("sma_1", "sma", 1), IndicatorSpec("sma_10", "sma", 10), IndicatorSpec("sma_200", "sma", 200),
    IndicatorSpec("ema_1", "ema", 1), IndicatorSpec("ema_12", "ema", 12), IndicatorSpec("ema_300", "ema", 300),
    IndicatorSpec("rsi_2", "rsi", 2), IndicatorSpec("rsi_14", "rsi", 14),
    IndicatorSpec("atr_1", "atr", 1), IndicatorSpec("atr_14", "atr", 14),
]


def reference(spec: IndicatorSpec, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
    cl, hl, ll = c.tolist(), h.tolist(), lo.tolist()
    if spec.type == "sma":
        return np.array(ref_sma(cl, spec.period))
    if spec.type == "ema":
        return np.array(ref_ema(cl, spec.period))
    if spec.type == "rsi":
        return np.array(ref_rsi(cl, spec.period))
    return np.array(ref_atr(hl, ll, cl, spec.period))


def test_values_match_plain_loop_references() -> None:
    h, lo, c = series(3000)
    got = compute_indicators(SPECS, h, lo, c)
    for spec in SPECS:
        ref = reference(spec, h, lo, c)
        assert got[spec.name].dtype == np.float64 and len(got[spec.name]) == 3000
        np.testing.assert_array_equal(np.isnan(got[spec.name]), np.isnan(ref), err_msg=spec.name)
        ok = ~np.isnan(ref)
        np.testing.assert_allclose(got[spec.name][ok], ref[ok], rtol=1e-12, atol=0, err_msg=spec.name)


@pytest.mark.parametrize(("typ", "period", "first"), [("sma", 5, 4), ("ema", 5, 4), ("rsi", 5, 5), ("atr", 5, 4)])
def test_warm_up_is_nan(typ: str, period: int, first: int) -> None:
    h, lo, c = series(20)
    v = compute_indicators([IndicatorSpec("x", typ, period)], h, lo, c)["x"]
    assert np.isnan(v[:first]).all() and not np.isnan(v[first:]).any()


def test_short_series_is_all_nan() -> None:
    h, lo, c = series(3)
    out = compute_indicators([IndicatorSpec(s.name, s.type, 10) for s in SPECS[:4]], h, lo, c)
    assert all(np.isnan(v).all() for v in out.values())


def test_hand_computed_small_example() -> None:
    c = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 4.0])
    h, lo = c + 0.5, c - 0.5
    out = compute_indicators(parse_indicators({
        "s": {"type": "sma", "period": 3}, "e": {"type": "ema", "period": 3},
        "r": {"type": "rsi", "period": 2}, "a": {"type": "atr", "period": 2},
    }), h, lo, c)
    np.testing.assert_allclose(out["s"][2:], [2.0, 3.0, 4.0, 13 / 3])
    np.testing.assert_allclose(out["e"][2:], [2.0, 3.0, 4.0, 4.0])  # alpha = 0.5
    # changes: +1 +1 +1 +1 -1; seed at index 2: gain 1, loss 0 -> 100; index 5: gain .5, loss .5 -> 50
    np.testing.assert_allclose(out["r"][2:], [100.0, 100.0, 100.0, 50.0])
    # TR: 1, 1.5, 1.5, 1.5, 1.5, 1.5 ; seed (1+1.5)/2 = 1.25 at index 1; then (1.25+1.5)/2 = 1.375 ...
    np.testing.assert_allclose(out["a"][1:4], [1.25, 1.375, 1.4375])


def test_flat_series_rsi_is_neutral() -> None:
    c = np.full(30, 10.0)
    out = compute_indicators([IndicatorSpec("r", "rsi", 14)], c, c, c)["r"]
    assert (out[14:] == 50.0).all()


@pytest.mark.parametrize("chunk", [1, 7, 255, 256, 257, 1000, 4096])
def test_streaming_is_bit_identical_to_whole_series(chunk: int) -> None:
    n = 3000 if chunk > 1 else 1200
    h, lo, c = series(n, seed=chunk)
    whole = compute_indicators(SPECS, h, lo, c)
    stream = IndicatorStream(SPECS)
    parts: dict[str, list[np.ndarray]] = {s.name: [] for s in SPECS}
    for i in range(0, n, chunk):
        for k, v in stream.next_arrays(h[i:i + chunk], lo[i:i + chunk], c[i:i + chunk]).items():
            assert len(v) == len(c[i:i + chunk])
            parts[k].append(v)
    for s in SPECS:
        got = np.concatenate(parts[s.name])
        # Bit-identical, NaNs in the same places: compare the raw bytes.
        assert got.tobytes() == whole[s.name].tobytes(), (s.name, chunk)


def test_streaming_irregular_chunks_from_a_candle_file(tmp_path: Path) -> None:
    h, lo, c = series(5000, seed=9)
    ts = np.arange(5000, dtype=np.int64) * 60_000
    pq.write_table(pa.table({"timestamp": ts, "open": c, "high": h, "low": lo, "close": c,
                             "volume": np.ones(5000)}), tmp_path / "x.parquet")
    src = open_candles(tmp_path / "x.parquet")
    whole = compute_indicators(SPECS, h, lo, c)
    for rows in (333, 1000, 65536):
        stream = IndicatorStream(SPECS)
        got = [stream.next(ch) for ch in src.iter_chunks("x", rows=rows)]
        for s in SPECS:
            assert np.concatenate([g[s.name] for g in got]).tobytes() == whole[s.name].tobytes()


def test_stream_refuses_a_gap() -> None:
    h, lo, c = series(10)
    stream = IndicatorStream(SPECS)
    from plughost.executor.data import CandleChunk

    ts = np.arange(10, dtype=np.int64)
    with pytest.raises(ValueError, match="offset"):
        stream.next(CandleChunk("x", 5, ts, c, h, lo, c, c))


@pytest.mark.slow
def test_ten_million_rows_is_fast() -> None:
    import time

    h, lo, c = series(10_000_000)
    for spec in (IndicatorSpec("s", "sma", 50), IndicatorSpec("e", "ema", 50),
                 IndicatorSpec("r", "rsi", 14), IndicatorSpec("a", "atr", 14)):
        t = time.perf_counter()
        compute_indicators([spec], h, lo, c)
        assert time.perf_counter() - t < 6.0, spec  # ~0.3-1.3 s measured; generous on a shared machine


# --------------------------------------------------------------------------------------------- parse
def test_parse_indicators() -> None:
    assert parse_indicators(None) == []
    assert parse_indicators({"sma_10": {"type": "sma", "period": 10}, "r": {"type": "RSI", "period": 14.0}}) == [
        IndicatorSpec("sma_10", "sma", 10), IndicatorSpec("r", "rsi", 14)]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"x": {"type": "vwap", "period": 3}}, "indicator 'x'.*unknown type 'vwap'.*sma, ema, rsi, atr"),
        ({"x": {"type": "sma"}}, "indicator 'x'.*period"),
        ({"x": {"type": "sma", "period": 0}}, "indicator 'x'.*period"),
        ({"x": {"type": "sma", "period": True}}, "indicator 'x'.*period"),
        ({"x": {"type": "sma", "period": 2.5}}, "indicator 'x'.*period"),
        ({"x": {"type": "sma", "period": 3, "len": 2}}, "indicator 'x'.*unknown key"),
        ({"x": "sma"}, "indicator 'x'.*expected an object"),
        ({"close": {"type": "sma", "period": 3}}, "indicator 'close'.*clashes"),
    ],
)
def test_parse_indicators_errors(spec: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_indicators(spec)  # type: ignore[arg-type]
    assert info.value.code == "CONFIG_INVALID"
    assert "sma, ema, rsi, atr, stddev, bbands, macd" in str(info.value)


# ------------------------------------------------------------------------- stddev, bbands, macd
def ref_std(c: np.ndarray, p: int) -> np.ndarray:
    return np.array([math.nan if i < p - 1 else float(np.std(c[i - p + 1:i + 1])) for i in range(len(c))])


def ref_macd(c: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    line = np.array(ref_ema(c.tolist(), fast)) - np.array(ref_ema(c.tolist(), slow))
    sig = np.full(len(c), math.nan)
    valid = line[slow - 1:]
    sig[slow - 1:] = ref_ema(valid.tolist(), signal)
    return line, sig, line - sig


NEW = {
    "sd": {"type": "stddev", "period": 20}, "sd1": {"type": "stddev", "period": 1},
    "sd300": {"type": "stddev", "period": 300},
    "bb": {"type": "bbands", "period": 20}, "bbk": {"type": "BBANDS", "period": 7, "k": 1.5},
    "m": {"type": "macd"}, "m2": {"type": "macd", "fast": 3, "slow": 5, "signal": 2},
}
NEW_SPECS = parse_indicators(NEW)


def new_reference(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    ref: dict[str, np.ndarray] = {}
    for name, p in (("sd", 20), ("sd1", 1), ("sd300", 300)):
        ref[name] = ref_std(c, p)
    for name, p, k in (("bb", 20, 2.0), ("bbk", 7, 1.5)):
        mid = np.array(ref_sma(c.tolist(), p))
        sd = ref_std(c, p)
        ref[f"{name}.upper"], ref[f"{name}.middle"], ref[f"{name}.lower"] = mid + k * sd, mid, mid - k * sd
    for name, (f, sl, sg) in (("m", (12, 26, 9)), ("m2", (3, 5, 2))):
        ref[f"{name}.line"], ref[f"{name}.signal"], ref[f"{name}.histogram"] = ref_macd(c, f, sl, sg)
    return ref


def test_new_indicators_output_names() -> None:
    assert [o for s in NEW_SPECS for o in s.outputs] == [
        "sd", "sd1", "sd300", "bb.upper", "bb.middle", "bb.lower", "bbk.upper", "bbk.middle", "bbk.lower",
        "m.line", "m.signal", "m.histogram", "m2.line", "m2.signal", "m2.histogram"]
    assert NEW_SPECS[-1] == IndicatorSpec("m2", "macd", 0, 2.0, 3, 5, 2)


def test_new_indicators_match_numpy_references() -> None:
    h, lo, c = series(3000, seed=3)
    got = compute_indicators(NEW_SPECS, h, lo, c)
    for name, ref in new_reference(h, lo, c).items():
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(ref), err_msg=name)
        ok = ~np.isnan(ref)
        np.testing.assert_allclose(got[name][ok], ref[ok], rtol=1e-9, atol=1e-9, err_msg=name)


def test_new_indicators_warm_up() -> None:
    h, lo, c = series(60)
    got = compute_indicators(NEW_SPECS, h, lo, c)
    first = {"sd": 19, "sd1": 0, "bb.upper": 19, "bb.lower": 19, "m.line": 25, "m.signal": 33, "m.histogram": 33,
             "m2.line": 4, "m2.signal": 5}
    for name, i in first.items():
        assert np.isnan(got[name][:i]).all() and not np.isnan(got[name][i:]).any(), name
    assert np.isnan(got["sd300"]).all()


def test_stddev_of_a_flat_window_is_exactly_zero_and_bands_collapse() -> None:
    c = np.r_[np.linspace(100, 200, 50), np.full(40, 123.456)]
    got = compute_indicators(parse_indicators({"s": {"type": "stddev", "period": 10},
                                               "b": {"type": "bbands", "period": 10}}), c, c, c)
    assert (got["s"][59:] == 0.0).all()
    assert (got["b.upper"][59:] == got["b.middle"][59:]).all() and (got["b.lower"][59:] == got["b.middle"][59:]).all()


def test_hand_computed_bbands_and_macd() -> None:
    c = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    out = compute_indicators(parse_indicators({"b": {"type": "bbands", "period": 8, "k": 1},
                                               "m": {"type": "macd", "fast": 1, "slow": 2, "signal": 1}}), c, c, c)
    # the textbook example: mean 5, population std 2
    assert (out["b.middle"][7], out["b.upper"][7], out["b.lower"][7]) == (5.0, 7.0, 3.0)
    # EMA(1) = close; EMA(2): seed mean(2, 4) = 3, then alpha 2/3; line at 1 = 4 - 3 = 1; signal EMA(1) = line
    assert out["m.line"][1] == 1.0 and out["m.signal"][1] == 1.0 and out["m.histogram"][1] == 0.0


@pytest.mark.parametrize("chunk", [1, 7, 19, 20, 21, 255, 256, 257, 1000])
def test_new_indicators_are_bit_identical_for_any_chunking(chunk: int) -> None:
    n = 2500 if chunk > 1 else 700
    h, lo, c = series(n, seed=chunk + 100)
    whole = compute_indicators(NEW_SPECS, h, lo, c)
    stream = IndicatorStream(NEW_SPECS)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in whole}
    for i in range(0, n, chunk):
        for k, v in stream.next_arrays(h[i:i + chunk], lo[i:i + chunk], c[i:i + chunk]).items():
            parts[k].append(v)
    for k in whole:
        assert np.concatenate(parts[k]).tobytes() == whole[k].tobytes(), (k, chunk)


def test_irregular_chunks_bit_identical() -> None:
    h, lo, c = series(4000, seed=11)
    whole = compute_indicators(NEW_SPECS + SPECS, h, lo, c)
    cuts = np.unique(np.random.default_rng(2).integers(0, 4000, 60))
    stream = IndicatorStream(NEW_SPECS + SPECS)
    got = [stream.next_arrays(h[a:b], lo[a:b], c[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, 4000], strict=True)]
    for k in whole:
        assert np.concatenate([g[k] for g in got]).tobytes() == whole[k].tobytes(), k


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"b": {"type": "bbands"}}, "'period' is required"),
        ({"b": {"type": "bbands", "period": 5, "k": 0}}, "'k' must be"),
        ({"b": {"type": "bbands", "period": 5, "k": "2"}}, "'k' must be"),
        ({"b": {"type": "bbands", "period": 5, "fast": 2}}, "unknown key.*fast"),
        ({"m": {"type": "macd", "period": 5}}, "unknown key.*period.*allowed: type, fast, slow, signal"),
        ({"m": {"type": "macd", "fast": 26, "slow": 12}}, "'fast' \\(26\\) must be below 'slow' \\(12\\)"),
        ({"m": {"type": "macd", "signal": 0}}, "'signal' must be an integer"),
        ({"s": {"type": "stddev", "period": -1}}, "'period' must be an integer"),
        ({"b": {"type": "bbands", "period": 5}, "b.upper": {"type": "sma", "period": 2}}, "clashes with indicator 'b'"),
    ],
)
def test_new_indicator_errors_name_the_indicator(spec: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_indicators(spec)  # type: ignore[arg-type]
    assert "known types: sma, ema, rsi, atr, stddev, bbands, macd" in str(info.value)


# ------------------------------------------------------------------------------- merged streams
def test_merged_stream_equals_each_symbol_alone(tmp_path: Path) -> None:
    from plughost.executor.data import open_candles
    from plughost.executor.indicators import MergedIndicatorStream

    rng = np.random.default_rng(4)
    parts = []
    per: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k, name in enumerate(["ETH", "BTC", "SOL"]):
        minutes = np.sort(rng.choice(900, size=500 - 60 * k, replace=False))
        h, lo, c = series(len(minutes), seed=k)
        per[name] = (h, lo, c)
        parts.append(pa.table({"timestamp": 1_704_067_200_000 + minutes.astype(np.int64) * 60_000, "open": c,
                               "high": h, "low": lo, "close": c, "volume": np.ones(len(c)),
                               "symbol": [name] * len(c)}))
    table = pa.concat_tables(parts)
    pq.write_table(table.take(np.argsort(table.column("timestamp").to_numpy(), kind="stable")), tmp_path / "m.parquet")
    src = open_candles(tmp_path / "m.parquet")
    specs = NEW_SPECS + SPECS
    for rows in (3, 97, 4096):
        stream = MergedIndicatorStream(specs, src.symbols())
        got: dict[str, list[np.ndarray]] = {}
        sym: list[np.ndarray] = []
        for chunk in src.iter_merged(rows=rows):
            vals = stream.next(chunk)
            assert all(len(v) == len(chunk) for v in vals.values())
            for k2, v in vals.items():
                got.setdefault(k2, []).append(v)
            sym.append(chunk.symbol)
        symbols = np.concatenate(sym)
        for i, name in enumerate(src.symbols()):
            alone = compute_indicators(specs, *per[name])
            for k2, v in alone.items():
                mine = np.concatenate(got[k2])[symbols == i]
                assert mine.tobytes() == v.tobytes(), (name, k2, rows)
