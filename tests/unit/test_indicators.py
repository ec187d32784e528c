"""shared/indicators.py: each series against a plain loop, known at the open of each
candle, computed once per candle set and shared read-only."""

from __future__ import annotations

import numpy as np
import pytest

from btfarm.shared import indicators
from btfarm.shared.candles import to_candles
from btfarm.shared.errors import UsageError

pytestmark = pytest.mark.unit


@pytest.fixture
def candles():
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 0.5, 300))
    high, low = close + rng.uniform(0, 1, 300), close - rng.uniform(0, 1, 300)
    opens = np.clip(np.r_[100.0, close[:-1]], low, high)
    return to_candles(
        {
            "timestamp": 1_735_689_600_000 + np.arange(300) * 60_000,
            "open": opens,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1, 5, 300),
        },
        "test",
        "X",
    )


def loop(values, length, reduce):
    """reduce(values[k - length:k]) at each k, NaN before the window is full."""
    return np.array(
        [reduce(values[k - length : k]) if k >= length else np.nan for k in range(len(values))]
    )


def wilder(values, length):
    """Wilder's smoothing, seeded with the first value, over a series whose first element is NaN."""
    out, avg = np.full(len(values), np.nan), None
    for k in range(1, len(values)):
        avg = values[k] if avg is None else avg + (values[k] - avg) / length
        if k >= length:
            out[k] = avg
    return out


def wilder_from_0(values, length):
    """Wilder's smoothing seeded with values[0]: element k uses values[0..k]."""
    out, avg = np.empty(len(values)), values[0]
    out[0] = avg
    for k in range(1, len(values)):
        avg = avg + (values[k] - avg) / length
        out[k] = avg
    return out


def test_sma_is_the_mean_of_the_closes_before_each_candle(candles):
    got = indicators.sma(candles, 10)
    np.testing.assert_allclose(got, loop(candles.close, 10, np.mean), rtol=1e-12)
    assert np.isnan(got[:10]).all() and not np.isnan(got[10:]).any()


def test_ema_rsi_atr_against_their_recurrences(candles):
    close = candles.close
    alpha, ema, want = 2 / 11, close[0], np.full(len(close), np.nan)
    for k in range(1, len(close)):
        want[k] = ema if k >= 10 else np.nan  # known at the open of k: through k - 1
        ema = ema + alpha * (close[k] - ema)
    np.testing.assert_allclose(indicators.ema(candles, 10), want, rtol=1e-12)

    change = np.r_[np.nan, np.diff(close)]
    up, down = (
        wilder(np.where(change > 0, change, 0.0), 14),
        wilder(np.where(change < 0, -change, 0.0), 14),
    )
    rsi = 100 - 100 / (1 + up / down)
    np.testing.assert_allclose(indicators.rsi(candles, 14), np.r_[np.nan, rsi[:-1]], rtol=1e-10)

    previous = np.r_[np.nan, close[:-1]]  # the first candle's true range is its high - low
    true_range = np.fmax(
        candles.high - candles.low,
        np.fmax(abs(candles.high - previous), abs(candles.low - previous)),
    )
    through = wilder_from_0(true_range, 14)  # element k: through candle k
    through[:13] = np.nan  # fewer than 14 candles
    got = indicators.atr(candles, 14)
    np.testing.assert_allclose(
        got, np.r_[np.nan, through[:-1]], rtol=1e-10
    )  # known at the open of k
    assert np.isnan(got[:14]).all() and np.isfinite(got[14:]).all()


def test_rolling_extremes_and_vwap(candles):
    np.testing.assert_array_equal(
        indicators.rolling_max(candles, 20), loop(candles.high, 20, np.max)
    )
    np.testing.assert_array_equal(
        indicators.rolling_min(candles, 20), loop(candles.low, 20, np.min)
    )
    typical = (candles.high + candles.low + candles.close) / 3
    want = loop(typical * candles.volume, 5, np.sum) / loop(candles.volume, 5, np.sum)
    np.testing.assert_allclose(indicators.vwap(candles, 5), want, rtol=1e-12)


def test_a_series_is_computed_once_per_candle_set_and_read_only(candles):
    first = indicators.sma(candles, 30)
    assert indicators.sma(candles, 30) is first  # the next variant reads it
    with pytest.raises(ValueError):
        first[40] = 0.0  # no variant can change what the next one reads
    assert indicators.sma(candles, 31) is not first


def test_the_memo_keeps_the_most_recent_within_its_bound(candles, monkeypatch):
    monkeypatch.setattr(indicators, "MEMO_BYTES", 3 * candles.close.nbytes)
    kept = [indicators.sma(candles, n) for n in (5, 6, 7, 8)]
    held = candles.memo[indicators.MEMO_KEY]
    assert sum(a.nbytes for a in held.values()) <= indicators.MEMO_BYTES
    assert ("sma", "close", 8) in held and ("sma", "close", 5) not in held
    np.testing.assert_array_equal(indicators.sma(candles, 5), kept[0])  # recomputed alike


def test_bad_arguments_are_refused(candles):
    with pytest.raises(UsageError, match="sma length must be a whole number >= 1"):
        indicators.sma(candles, 0)
    with pytest.raises(UsageError, match="indicator field 'closing'"):
        indicators.sma(candles, 5, field="closing")


@pytest.mark.parametrize("shift", [1, 5])
def test_crossings_in_c_and_numpy_are_the_sign_changes_of_the_gap(monkeypatch, shift):
    from btfarm.shared.engine import batch_kernel
    from btfarm.shared.settings import get_settings

    rng = np.random.default_rng(shift)
    a = np.round(rng.normal(0, 1, 5_000), 1)  # rounded: many exact ties (a gap of 0)
    b = np.round(rng.normal(0, 1, 5_000), 1)
    a[rng.random(5_000) < 0.05] = np.nan
    gap = a - b
    expected = [
        k
        for k in range(shift, len(a))
        if (gap[k - shift] <= 0 < gap[k]) or (gap[k - shift] >= 0 > gap[k])
    ]
    assert batch_kernel.available()
    in_c = indicators.crossings(a, b, shift)
    monkeypatch.setenv("BTFARM_NATIVE", "0")
    get_settings.cache_clear()
    try:
        in_numpy = indicators.crossings(a, b, shift)
    finally:
        get_settings.cache_clear()
    for rows, sides in (in_c, in_numpy):
        assert rows.tolist() == expected and len(expected) > 500
        assert sides.dtype == np.int8
        assert sides.tolist() == [1 if gap[k] > 0 else -1 for k in expected]
    with pytest.raises(UsageError, match="one length"):
        indicators.crossings(a, b[:-1])


@pytest.mark.parametrize("length", [0, 3, 1_000])
def test_no_crossing_is_two_empty_arrays(length):
    rows, sides = indicators.crossings(np.arange(length, dtype=float) + 1, np.zeros(length), 1)
    assert rows.dtype == np.int64 and sides.dtype == np.int8
    assert rows.tolist() == [] and sides.tolist() == []


def _walk(n, seed):
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.3, n)), 1)  # rounded: means that tie exactly
    return to_candles(
        {
            "timestamp": 1_735_689_600_000 + np.arange(n) * 60_000,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": np.ones(n),
        },
        "test",
        "X",
    )


@pytest.mark.parametrize(
    "n, fast, slow, shift",
    [
        (20_000, 3, 30, 5),  # several of the C loop's 4,096-row blocks
        (200_000, 10, 30, 5),  # crossings every few rows, in runs of shift rows
        (9_000, 40, 7, 1),  # fast longer than slow
        (12_000, 5, 20, 6_000),  # a shift longer than a block
        (12_000, 3, 3_000, 1),  # the first mean late, blocks of 4,096 gaps after it
        (50, 10, 60, 1),  # too short for the slow mean: nothing crosses
    ],
)
def test_sma_crossings_are_the_crossings_of_the_two_means_in_c_and_numpy(
    monkeypatch, n, fast, slow, shift
):
    from btfarm.shared.settings import get_settings

    candles = _walk(n, seed=fast * slow)
    expected = indicators.crossings(
        indicators.sma(candles, fast), indicators.sma(candles, slow), shift
    )
    assert n < slow or len(expected[0]) > 5
    in_c = indicators.sma_crossings(candles, fast, slow, shift)
    monkeypatch.setenv("BTFARM_NATIVE", "0")
    get_settings.cache_clear()
    try:
        in_numpy = indicators.sma_crossings(candles, fast, slow, shift)
    finally:
        get_settings.cache_clear()
    for rows, sides in (in_c, in_numpy):
        assert rows.dtype == np.int64 and sides.dtype == np.int8
        assert rows.tolist() == expected[0].tolist() and sides.tolist() == expected[1].tolist()


def test_sma_crossings_refuse_a_window_of_zero():
    with pytest.raises(UsageError, match="sma_crossings slow length must be a whole number"):
        indicators.sma_crossings(_walk(100, 1), 3, 0)


def test_sma_crossings_on_exact_ties_where_reciprocals_would_round_the_other_way():
    # flat stretches at these closes make the two means exactly equal; 111 * 2 * (1 / 2) -
    # 111 * 49 * (1 / 49) is not 0, so a pass multiplying by reciprocals without its exact
    # fallback would see a sign, and crossings, that the divided means do not have
    levels = np.array([111.0, 1.0, 110.0, 29.0, 61.0, 111.0, 30.0, 118.0, 57.0, 110.0])
    close = np.repeat(levels, 120)
    candles = to_candles(
        {
            "timestamp": 1_735_689_600_000 + np.arange(len(close)) * 60_000,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": np.ones(len(close)),
        },
        "t",
        "X",
    )
    fast, slow = indicators.sma(candles, 2), indicators.sma(candles, 49)
    assert ((fast - slow) == 0).sum() > 500  # the ties are there
    expected = indicators.crossings(fast, slow, 1)
    rows, sides = indicators.sma_crossings(candles, 2, 49, 1)
    assert rows.tolist() == expected[0].tolist() and sides.tolist() == expected[1].tolist()
