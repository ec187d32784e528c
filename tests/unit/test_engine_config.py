"""Engine constants: each has a type and a range, refused values name the constant, the value
and the fix; the costs and the minimum take-profit distance agree; math.inf lifetimes work and
survive JSON."""

import json
import math

import numpy as np
import pytest

from btfarm.shared.engine.signal_rules import check_signal, level_problems
from btfarm.shared.engine_config import EngineConfig, get_config, reset_config, set_config
from btfarm.shared.errors import SettingsError
from btfarm.shared.trade_signal import SignalDto

pytestmark = pytest.mark.unit

FEE_RANGE = "allowed: a finite number >= 0 and < 100"


@pytest.fixture(autouse=True)
def _fresh_config():
    reset_config()
    yield
    reset_config()


def refused(**change) -> str:
    before = get_config()
    with pytest.raises(SettingsError) as err:
        set_config(**change)
    assert get_config() == before  # a refused call changes nothing
    return str(err.value)


# ---- issue 29 section 4: the values that made results lie ---------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [
        (-1, "CC_PERCENT_FEE = -1 is refused"),  # a losing strategy showed a 100 % win rate
        (1e9, "CC_PERCENT_FEE = 1000000000.0 is refused"),
        (math.nan, "CC_PERCENT_FEE = nan is refused"),  # every statistic None, without a word
        ("0.1", "CC_PERCENT_FEE = '0.1' (a str) is refused"),
        (True, "CC_PERCENT_FEE = True (a bool) is refused"),
        (100, "CC_PERCENT_FEE = 100 is refused"),
    ],
)
def test_a_fee_that_makes_results_lie_is_refused(value, shown):
    message = refused(CC_PERCENT_FEE=value)
    assert message.startswith(f"set_config: {shown}; {FEE_RANGE}")
    assert "default 0.1" in message


@pytest.mark.parametrize("value", [math.inf, -math.inf, -0.01, math.nan, "0.1", False, None, 100.0])
def test_slippage_out_of_range_is_refused(value):
    message = refused(CC_PERCENT_SLIPPAGE=value)
    assert f"CC_PERCENT_SLIPPAGE = {value!r}" in message and FEE_RANGE in message


@pytest.mark.parametrize(
    "name, value, allowed",
    [
        ("CC_AVG_PRICE_CANDLES_COUNT", 0, "an integer > 0"),
        ("CC_AVG_PRICE_CANDLES_COUNT", 5.0, "an integer > 0"),  # a count is an int, not a float
        ("CC_AVG_PRICE_CANDLES_COUNT", True, "an integer > 0"),
        ("CC_AVG_PRICE_CANDLES_COUNT", "5", "an integer > 0"),
        ("CC_SCHEDULE_AWAIT_MINUTES", -5, "an integer > 0"),
        (
            "CC_SCHEDULE_AWAIT_MINUTES",
            math.inf,
            "an integer > 0",
        ),  # only the signal lifetime may be endless
        ("CC_WARMUP_MINUTES", -1, "an integer >= 0"),
        ("CC_MAX_SIGNAL_LIFETIME_MINUTES", 0, "an integer > 0, or math.inf"),
        ("CC_MAX_SIGNAL_LIFETIME_MINUTES", 90.5, "an integer > 0, or math.inf"),
        ("CC_MAX_SIGNAL_LIFETIME_MINUTES", -math.inf, "an integer > 0, or math.inf"),
        ("CC_MAX_SIGNAL_LIFETIME_MINUTES", math.nan, "an integer > 0, or math.inf"),
        ("CC_MIN_TAKEPROFIT_DISTANCE_PERCENT", 0, "a finite number > 0"),
        ("CC_MIN_STOPLOSS_DISTANCE_PERCENT", math.inf, "a finite number > 0"),
        ("CC_MAX_STOPLOSS_DISTANCE_PERCENT", -20, "a finite number > 0"),
        ("TICK_TTL", 0, "a finite number > 0"),
        ("TICK_TTL", math.inf, "a finite number > 0"),
        ("CC_BREAKEVEN_THRESHOLD", -0.2, "a finite number >= 0"),
        ("CC_POSITION_ENTRY_COST", 0, "a finite number > 0"),
        ("CC_POSITION_ENTRY_COST", math.nan, "a finite number > 0"),
        ("CC_ENABLE_DCA_EVERYWHERE", 1, "True or False"),
        ("CC_ENABLE_PPPL_EVERYWHERE", "yes", "True or False"),
        ("CC_ENABLE_TRAILING_EVERYWHERE", np.bool_(True), "True or False"),
    ],
)
def test_each_constant_has_its_type_and_range(name, value, allowed):
    message = refused(**{name: value})
    assert f"{name} = {value!r}" in message and f"allowed: {allowed}" in message


def test_every_problem_of_one_call_is_named():
    message = refused(CC_PERCENT_FEE=-1, TICK_TTL=0)
    assert "(1) CC_PERCENT_FEE = -1" in message and "(2) TICK_TTL = 0" in message


def test_a_refused_value_is_refused_by_the_model_too():
    # the engine builds EngineConfig(...) directly (tests, payloads): the same rules hold there
    with pytest.raises(ValueError, match="CC_PERCENT_FEE = -1 is refused"):
        EngineConfig(CC_PERCENT_FEE=-1)


# ---- good values ----------------------------------------------------------------------------


def test_the_defaults_are_valid_and_are_backtest_kits():
    cfg = EngineConfig()
    assert EngineConfig.model_validate(cfg.model_dump()) == cfg
    assert (cfg.CC_BREAKEVEN_THRESHOLD, cfg.CC_POSITION_ENTRY_COST) == (0.2, 100)
    assert not (
        cfg.CC_ENABLE_DCA_EVERYWHERE
        or cfg.CC_ENABLE_PPPL_EVERYWHERE
        or cfg.CC_ENABLE_TRAILING_EVERYWHERE
    )
    # the cross rule holds for the defaults: 0.5 >= 2 x (0.1 + 0.1) = 0.4
    assert cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT >= 2 * (
        cfg.CC_PERCENT_FEE + cfg.CC_PERCENT_SLIPPAGE
    )


def test_good_values_are_taken_and_stored_with_their_type():
    cfg = set_config(
        CC_PERCENT_FEE=0,
        CC_PERCENT_SLIPPAGE=np.float64(0.05),
        CC_AVG_PRICE_CANDLES_COUNT=np.int64(3),
        CC_WARMUP_MINUTES=0,
        TICK_TTL=1,
        CC_BREAKEVEN_THRESHOLD=0,
        CC_POSITION_ENTRY_COST=250,
        CC_ENABLE_DCA_EVERYWHERE=True,
        CC_MAX_SIGNAL_LIFETIME_MINUTES=10_080,
    )
    assert (
        cfg.CC_PERCENT_FEE == 0.0 and type(cfg.CC_PERCENT_FEE) is float
    )  # an int is taken as a number
    assert type(cfg.CC_PERCENT_SLIPPAGE) is float and cfg.CC_PERCENT_SLIPPAGE == 0.05
    assert cfg.CC_AVG_PRICE_CANDLES_COUNT == 3 and type(cfg.CC_AVG_PRICE_CANDLES_COUNT) is int
    assert (cfg.TICK_TTL, cfg.CC_POSITION_ENTRY_COST, cfg.CC_ENABLE_DCA_EVERYWHERE) == (
        1.0,
        250.0,
        True,
    )
    assert get_config() is cfg


def test_a_dict_of_changes_is_the_same_as_keywords():
    assert set_config({"CC_PERCENT_FEE": 0.05}) == reset_config().model_copy(
        update={"CC_PERCENT_FEE": 0.05}
    )


# ---- the costs and the minimum take profit agree (backtest-kit's rule) ----------------------


def test_raising_the_fee_alone_says_to_raise_the_minimum_take_profit_with_it():
    # 2 x (0.2 + 0.1) = 0.6 > the default minimum 0.5: a TP at the minimum distance loses money
    message = refused(CC_PERCENT_FEE=0.2)
    assert "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT = 0.5 is below the round-trip cost" in message
    assert "2 x (CC_PERCENT_FEE 0.2 + CC_PERCENT_SLIPPAGE 0.1) = 0.6 percent" in message
    assert "set_config(CC_PERCENT_FEE=0.2, CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.6)" in message
    # the fix as written is taken, though 2 * (0.2 + 0.1) is 0.6000000000000001 in floats
    cfg = set_config(CC_PERCENT_FEE=0.2, CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.6)
    assert (cfg.CC_PERCENT_FEE, cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT) == (0.2, 0.6)


def test_the_cross_rule_with_worked_numbers():
    # fee 0.05 + slippage 0.2: cost 2 x 0.25 = 0.5, exactly the default minimum: allowed
    assert (
        set_config(CC_PERCENT_FEE=0.05, CC_PERCENT_SLIPPAGE=0.2).CC_MIN_TAKEPROFIT_DISTANCE_PERCENT
        == 0.5
    )
    reset_config()
    # slippage 0.15 + fee 0.15: cost 0.6 > 0.5, refused; the example names the slippage raised
    message = refused(CC_PERCENT_SLIPPAGE=0.15, CC_PERCENT_FEE=0.15)
    assert "= 0.6 percent" in message
    assert (
        "set_config(CC_PERCENT_SLIPPAGE=0.15, CC_PERCENT_FEE=0.15, CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.6)"
        in message
    )
    # lowering the minimum below the default costs 0.4 is refused too
    assert "= 0.4 percent" in refused(CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.39)
    assert (
        set_config(CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.4).CC_MIN_TAKEPROFIT_DISTANCE_PERCENT == 0.4
    )
    # and with zero costs any positive minimum goes
    reset_config()
    assert set_config(
        CC_PERCENT_FEE=0, CC_PERCENT_SLIPPAGE=0, CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0.01
    )


def test_the_stop_loss_minimum_stays_below_its_maximum():
    message = refused(CC_MIN_STOPLOSS_DISTANCE_PERCENT=20)
    assert (
        "CC_MIN_STOPLOSS_DISTANCE_PERCENT = 20.0 must be below CC_MAX_STOPLOSS_DISTANCE_PERCENT = 20.0"
        in message
    )
    assert set_config(CC_MIN_STOPLOSS_DISTANCE_PERCENT=20, CC_MAX_STOPLOSS_DISTANCE_PERCENT=30)


# ---- no expiry: math.inf (SEMANTICS 9) ------------------------------------------------------

SIGNAL = {"position": "long", "price_take_profit": 101.0, "price_stop_loss": 99.0}


def test_an_endless_signal_passes_only_when_the_config_allows_it():
    endless = {**SIGNAL, "minute_estimated_time": math.inf}
    sig, problems = check_signal(endless, 100.0, EngineConfig())
    assert sig is None and problems == [
        "minute_estimated_time must be a positive integer <= 1440, got inf; "
        "no expiry needs set_config(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)"
    ]
    cfg = set_config(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)
    sig, problems = check_signal(endless, 100.0, cfg)
    assert problems == [] and sig["minute_estimated_time"] == math.inf
    sig, problems = check_signal(
        {**SIGNAL, "minute_estimated_time": np.float64(np.inf)}, 100.0, cfg
    )
    assert problems == [] and sig["minute_estimated_time"] == math.inf
    # without a lifetime the signal takes the config's: endless too
    assert check_signal(SIGNAL, 100.0, cfg)[0]["minute_estimated_time"] == math.inf
    # a finite lifetime of any length is fine under an endless config; junk is still refused
    assert check_signal({**SIGNAL, "minute_estimated_time": 10**9}, 100.0, cfg)[1] == []
    for bad in (-math.inf, math.nan, 0, 2.5):
        assert check_signal({**SIGNAL, "minute_estimated_time": bad}, 100.0, cfg)[1] == [
            f"minute_estimated_time must be a positive integer or math.inf, got {bad!r}"
        ]


def test_level_problems_takes_an_endless_lifetime_only_under_an_endless_maximum():
    # the batch lane asks level_problems on plain floats
    assert level_problems(True, 100.0, 101.0, 99.0, math.inf, math.inf, 0.5, 0.5, 20.0) == []
    assert level_problems(True, 100.0, 101.0, 99.0, math.inf, 1440, 0.5, 0.5, 20.0) != []
    assert level_problems(True, 100.0, 101.0, 99.0, 1441.0, 1440, 0.5, 0.5, 20.0) != []


def test_a_signal_dto_may_carry_math_inf():
    dto = SignalDto(**SIGNAL, minute_estimated_time=math.inf)
    cfg = set_config(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)
    assert check_signal(dto.model_dump(), 100.0, cfg)[0]["minute_estimated_time"] == math.inf


def test_the_config_survives_strict_json_with_an_endless_lifetime():
    cfg = set_config(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf, CC_ENABLE_PPPL_EVERYWHERE=True)
    text = json.dumps(
        cfg.to_json(), allow_nan=False
    )  # JSON has no inf: this raises if one slips through
    assert '"CC_MAX_SIGNAL_LIFETIME_MINUTES": "Infinity"' in text
    back = EngineConfig.from_json(text)
    assert back == cfg and back.CC_MAX_SIGNAL_LIFETIME_MINUTES == math.inf
    assert EngineConfig.from_json(json.loads(text)) == cfg
    # a finite config round-trips with its types (an int stays an int)
    plain = EngineConfig.from_json(json.dumps(EngineConfig().to_json(), allow_nan=False))
    assert plain == EngineConfig() and type(plain.CC_MAX_SIGNAL_LIFETIME_MINUTES) is int


def test_a_json_payload_is_checked_like_set_config():
    bad = {**EngineConfig().to_json(), "CC_PERCENT_FEE": -1}
    with pytest.raises(
        SettingsError, match="engine config payload: CC_PERCENT_FEE = -1 is refused"
    ):
        EngineConfig.from_json(bad)
    with pytest.raises(
        SettingsError, match="CC_SCHEDULE_AWAIT_MINUTES = 'Infinity'"
    ):  # only the lifetime
        EngineConfig.from_json({"CC_SCHEDULE_AWAIT_MINUTES": "Infinity"})
    with pytest.raises(SettingsError, match="unknown key 'CC_FEE'"):
        EngineConfig.from_json({"CC_FEE": 0.1})
    with pytest.raises(SettingsError, match="expected a JSON object, got list"):
        EngineConfig.from_json("[1]")


def test_an_endless_lifetime_is_refused_as_a_string_by_set_config():
    # strict types: "Infinity" is how JSON carries it, not what a caller passes
    assert "CC_MAX_SIGNAL_LIFETIME_MINUTES = 'Infinity' (a str)" in refused(
        CC_MAX_SIGNAL_LIFETIME_MINUTES="Infinity"
    )


def test_an_endless_config_has_its_own_stable_hash():
    from btfarm.shared.fingerprint import config_hash

    endless = EngineConfig(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)
    assert config_hash(endless) == config_hash(EngineConfig.from_json(endless.to_json()))
    assert config_hash(endless) != config_hash(EngineConfig())
    assert config_hash(EngineConfig(CC_ENABLE_TRAILING_EVERYWHERE=True)) != config_hash(
        EngineConfig()
    )
