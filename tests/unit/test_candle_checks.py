"""The one-buffer test of good candles (candles._all_good) passes exactly what the
row-by-kind checks pass: a defect of any kind, in any column, is still refused with
the row and the kind."""

import math

import numpy as np
import pytest

from btfarm.shared import candles as candles_module
from btfarm.shared.candles import to_candles
from btfarm.shared.errors import CandleDataError

pytestmark = pytest.mark.unit

T0 = 1_735_689_600_000
N = 50


def market(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(size=N))
    opens = np.r_[100.0, close[:-1]]
    return {
        "timestamp": T0 + np.arange(N) * 60_000,
        "open": opens,
        "close": close,
        "high": np.maximum(opens, close) + rng.random(N),
        "low": np.minimum(opens, close) - rng.random(N),
        "volume": rng.random(N) * 10,
    }


DEFECTS = [
    ("open", math.nan, "NaN or infinite"),
    ("high", math.inf, "NaN or infinite"),
    ("low", -math.inf, "NaN or infinite"),
    ("close", math.nan, "NaN or infinite"),
    ("volume", math.inf, "NaN or infinite"),
    ("volume", math.nan, "NaN or infinite"),
    ("low", 0.0, "zero or negative"),
    ("low", -1.0, "zero or negative"),
    ("volume", -0.5, "volume is negative"),
    ("low", 1e9, "do not contain"),
    ("high", 1e-3, "do not contain"),
    ("open", 1e9, "do not contain"),
    ("close", 1e-3, "do not contain"),
]


@pytest.mark.parametrize("column, value, kind", DEFECTS)
def test_each_defect_is_refused_with_its_row_and_kind(column, value, kind):
    data = market(1)
    data[column] = data[column].copy()
    data[column][17] = value
    with pytest.raises(CandleDataError, match=rf"row 17 .*{kind}"):
        to_candles(data, "test", "X")


@pytest.mark.parametrize(
    "step, kind", [(0, "duplicated timestamp"), (-60_000, "not sorted ascending")]
)
def test_a_repeated_or_earlier_time_is_refused(step, kind):
    data = market(2)
    data["timestamp"] = data["timestamp"].copy()
    data["timestamp"][30] = data["timestamp"][29] + step
    with pytest.raises(CandleDataError, match=rf"row 30 .*{kind}"):
        to_candles(data, "test", "X")


def test_the_fast_test_agrees_with_the_checks_on_random_damage(monkeypatch):
    rng = np.random.default_rng(7)
    values = [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e-6, 1e12]
    for seed in range(300):
        data = market(seed)
        for _ in range(rng.integers(0, 3)):  # none, one or two damaged cells
            column = rng.choice(["open", "high", "low", "close", "volume"])
            data[column] = data[column].copy()
            data[column][rng.integers(0, N)] = rng.choice(values)
        columns = [data[k] for k in ("timestamp", "open", "high", "low", "close", "volume")]
        fast = candles_module._all_good(*columns)
        monkeypatch.setattr(candles_module, "_all_good", lambda *a: False)  # the checks alone
        try:
            candles_module._check("where", *columns)
            checked = True
        except CandleDataError:
            checked = False
        monkeypatch.undo()
        assert fast == checked, (seed, data)
