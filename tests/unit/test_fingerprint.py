"""Fingerprints change exactly when what produced a result changes."""

import pytest

from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.fingerprint import fingerprint
from btfarm.shared.schemas import StrategySchema

from .market import candles, flat

pytestmark = pytest.mark.unit


def one(x, y):
    return None


def other(x, y):
    return {"position": "long"}


def test_same_inputs_same_fingerprint_and_each_input_moves_it():
    s = StrategySchema(strategy_name="s", interval="1m", get_signal=one, params={"a": 1})
    c = candles(flat(10))
    base = fingerprint(s, None, c, EngineConfig())
    assert base == fingerprint(s, None, candles(flat(10)), EngineConfig())
    assert base["params"] == {"a": 1} and base["candles"] == 10
    moved = {
        "params": fingerprint(s, {"a": 2}, c, EngineConfig()),
        "source_hash": fingerprint(
            s.model_copy(update={"get_signal": other}), None, c, EngineConfig()
        ),
        "candles_digest": fingerprint(s, None, candles(flat(10, price=101.0)), EngineConfig()),
        "fee_percent": fingerprint(
            s, None, c, EngineConfig(CC_PERCENT_FEE=0.05)
        ),  # 0.2 needs a TP minimum >= 0.6
    }
    for key, changed in moved.items():
        assert changed[key] != base[key], key
