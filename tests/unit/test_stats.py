import math

import numpy as np
import pytest

from btfarm.shared.errors import InputError
from btfarm.shared.results import ClosedResult
from btfarm.shared.stats import (
    HINTS,
    BacktestStatistics,
    LiveStatistics,
    compute_live_statistics,
    compute_statistics,
    median,
)

pytestmark = pytest.mark.unit

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC, ms
MINUTE = 60_000
DAY = 86_400_000


def closed(pnl, pending_at, close_at, action="closed"):
    signal = {
        "id": f"s{pending_at}",
        "position": "long",
        "price_open": 100.0,
        "price_take_profit": 101.0,
        "price_stop_loss": 99.0,
        "minute_estimated_time": 1440,
        "symbol": "BTCUSDT",
        "strategy_name": "s",
        "exchange_name": "e",
        "scheduled_at": pending_at,
        "pending_at": pending_at,
    }
    return ClosedResult(
        symbol="BTCUSDT",
        strategy_name="s",
        exchange_name="e",
        timestamp=close_at,
        signal=signal,
        current_price=100.0,
        close_reason="take_profit",
        close_timestamp=close_at,
        pnl={"pnl_percentage": pnl, "price_open": 100.0, "price_close": 100.0},
    ).model_dump()


def alternating(n, last_close, win=2.0, loss=-1.0):
    """n trades win, loss, win, ...; wins last 60 min, losses 30 min; one per day,
    except the last, which closes exactly at ``last_close``."""
    rows = []
    for i in range(n):
        pnl = win if i % 2 == 0 else loss
        minutes = 60 if pnl > 0 else 30
        if i == n - 1:
            rows.append(closed(pnl, last_close - minutes * MINUTE, last_close))
        else:
            rows.append(closed(pnl, T0 + i * DAY, T0 + i * DAY + minutes * MINUTE))
    return rows


def test_golden_numbers_of_ten_alternating_trades_over_36_5_days():
    # pnl: +2, -1 five times each; span 36.5 days, so trades_per_year = 10 / 36.5 * 365 = 100
    s = compute_statistics(alternating(10, T0 + int(36.5 * DAY)))
    assert (s.total_signals, s.win_count, s.loss_count) == (10, 5, 5)
    assert s.win_rate == pytest.approx(50.0)
    assert s.avg_pnl == pytest.approx(0.5)
    assert s.total_pnl == pytest.approx(5.0)
    assert s.median_pnl == pytest.approx(0.5)
    # deviations are +-1.5: sum of squares 22.5, / 9 = 2.5
    assert s.std_dev == pytest.approx(math.sqrt(2.5))
    assert s.sharpe_ratio == pytest.approx(0.5 / math.sqrt(2.5))  # = 1 / sqrt(10)
    assert s.trades_per_year == pytest.approx(100.0)
    assert s.annualized_sharpe_ratio == pytest.approx(0.5 / math.sqrt(2.5) * 10.0)
    assert s.certainty_ratio == pytest.approx(2.0)  # avg win 2 / |avg loss 1|
    assert s.expectancy == pytest.approx(0.5 * 2.0 + 0.5 * -1.0)
    # every loss falls 1 % from a fresh peak
    assert s.max_drawdown == pytest.approx(1.0)
    # equity_final = (1.02 * 0.99) ** 5; raised to trades_per_year / N = 10
    assert s.expected_yearly_returns == pytest.approx((1.0098**50 - 1) * 100)
    # downside deviation sqrt(5 * 1 / 10) = sqrt(0.5)
    assert s.sortino_ratio == pytest.approx(0.5 / math.sqrt(0.5))
    assert s.calmar_ratio == pytest.approx((1.0098**50 - 1) * 100 / 1.0)
    assert s.recovery_factor == pytest.approx(5.0)
    assert s.profit_factor == pytest.approx(10.0 / 5.0)
    assert s.avg_duration == pytest.approx(45.0)
    assert s.avg_win_duration == pytest.approx(60.0)
    assert s.avg_loss_duration == pytest.approx(30.0)


def test_nine_trades_are_below_the_n_ge_10_gates():
    s = compute_statistics(alternating(9, T0 + 40 * DAY))
    assert s.total_signals == 9
    for gated in (
        "std_dev",
        "sharpe_ratio",
        "annualized_sharpe_ratio",
        "certainty_ratio",
        "expectancy",
        "expected_yearly_returns",
        "sortino_ratio",
        "calmar_ratio",
    ):
        assert getattr(s, gated) is None, gated
    # ungated ones are still there
    assert s.win_rate == pytest.approx(5 / 9 * 100)
    assert s.avg_pnl == pytest.approx((5 * 2 - 4) / 9)
    assert s.profit_factor == pytest.approx(10.0 / 4.0)
    assert s.recovery_factor == pytest.approx(6.0 / 1.0)
    assert s.max_drawdown == pytest.approx(1.0)


def test_a_span_of_exactly_14_days_annualizes_and_a_shorter_one_does_not():
    at_gate = compute_statistics(alternating(10, T0 + 14 * DAY))
    assert at_gate.trades_per_year == pytest.approx(10 / 14 * 365)
    assert at_gate.annualized_sharpe_ratio == pytest.approx(
        1 / math.sqrt(10) * math.sqrt(10 / 14 * 365)
    )
    short = compute_statistics(alternating(10, T0 + 14 * DAY - MINUTE))
    assert short.sharpe_ratio == pytest.approx(1 / math.sqrt(10))
    assert short.annualized_sharpe_ratio is None
    assert short.expected_yearly_returns is None
    assert short.calmar_ratio is None


def test_more_than_365_trades_per_year_is_not_annualized():
    s = compute_statistics(alternating(20, T0 + int(19.5 * DAY)))  # 20 / 19.5 * 365 = 374.4 a year
    assert s.trades_per_year == pytest.approx(20 / 19.5 * 365)
    assert s.sharpe_ratio is not None
    assert s.annualized_sharpe_ratio is None
    assert s.expected_yearly_returns is None


def test_exactly_365_trades_per_year_is_annualized():
    s = compute_statistics(alternating(20, T0 + 20 * DAY))  # 20 trades in 20 days
    assert s.trades_per_year == pytest.approx(365.0)
    assert s.annualized_sharpe_ratio == pytest.approx(s.sharpe_ratio * math.sqrt(365))


def test_expected_yearly_returns_beyond_100_percent_is_none():
    rows = [closed(10.0, T0 + i * 4 * DAY, T0 + i * 4 * DAY + 60 * MINUTE) for i in range(10)]
    s = compute_statistics(rows)
    assert s.trades_per_year is not None and s.trades_per_year <= 365
    assert s.expected_yearly_returns is None
    assert s.calmar_ratio is None


def test_identical_returns_have_no_sharpe_and_no_sortino():
    rows = [closed(1.0, T0 + i * DAY, T0 + i * DAY + MINUTE) for i in range(10)]
    s = compute_statistics(rows)
    assert s.std_dev == pytest.approx(0.0)
    assert s.sharpe_ratio is None
    assert s.sortino_ratio is None
    assert s.certainty_ratio is None  # no losses
    assert s.profit_factor is None  # gross losses are 0: infinite, so None
    assert s.recovery_factor is None  # no drawdown
    assert s.expectancy == pytest.approx(1.0)
    assert s.win_rate == pytest.approx(100.0)


def test_break_even_trades_are_left_out_of_win_rate():
    rows = [closed(p, T0 + i * DAY, T0 + i * DAY + MINUTE) for i, p in enumerate([1.0, 0.0, -1.0])]
    s = compute_statistics(rows)
    assert (s.win_count, s.loss_count) == (1, 1)
    assert s.win_rate == pytest.approx(50.0)
    assert s.median_pnl == pytest.approx(0.0)


def test_only_break_even_trades_give_no_win_rate():
    s = compute_statistics([closed(0.0, T0, T0 + MINUTE)])
    assert s.win_rate is None
    assert s.avg_win_duration is None and s.avg_loss_duration is None
    assert s.avg_duration == pytest.approx(1.0)


def test_drawdown_follows_close_order_not_list_order():
    # listed -20, +10, +5 but closed +10, -20, +5: the SEMANTICS 20 % example
    rows = [
        closed(-20.0, T0 + DAY, T0 + 2 * DAY),
        closed(10.0, T0, T0 + 1),
        closed(5.0, T0 + 2 * DAY, T0 + 3 * DAY),
    ]
    assert compute_statistics(rows).max_drawdown == pytest.approx(20.0)


def test_nan_and_infinite_values_become_none():
    rows = alternating(10, T0 + int(36.5 * DAY))
    rows[3]["pnl"]["pnl_percentage"] = float("nan")
    s = compute_statistics(rows)
    for name, value in s.model_dump().items():
        assert value is None or math.isfinite(value), name
    assert s.avg_pnl is None and s.total_pnl is None and s.sharpe_ratio is None
    assert s.max_drawdown is None


def test_no_signals_gives_zeros_and_none():
    s = compute_statistics([])
    assert s == BacktestStatistics()
    assert (s.total_signals, s.win_count, s.loss_count) == (0, 0, 0)
    # SEMANTICS 4: with no closed signal every sum and ratio is None, so an empty run
    # never beats a real one (a 0.0 total_pnl beat every losing variant)
    assert s.total_pnl is None and s.max_drawdown is None
    assert s.avg_pnl is None and s.sharpe_ratio is None and s.win_rate is None
    assert s.avg_peak_pnl is None and s.avg_fall_pnl is None


def test_models_are_accepted_as_well_as_dicts():
    rows = alternating(10, T0 + int(36.5 * DAY))
    models = [ClosedResult.model_validate(r) for r in rows]
    assert compute_statistics(models) == compute_statistics(rows)


def test_every_statistic_has_a_direction_hint():
    assert set(BacktestStatistics.model_fields) <= set(HINTS)
    assert set(HINTS.values()) == {"higher is better", "lower is better"}
    assert HINTS["max_drawdown"] == "lower is better"
    assert HINTS["sharpe_ratio"] == "higher is better"


def test_live_statistics_count_every_event_kind():
    closes = alternating(2, T0 + 2 * DAY)
    base = {"symbol": "BTCUSDT", "strategy_name": "s", "exchange_name": "e", "timestamp": T0}
    events = [
        {**base, "action": "idle"},
        {**base, "action": "scheduled"},
        {**base, "action": "opened"},
        {**base, "action": "active"},
        {**base, "action": "active"},
        closes[0],
        {**base, "action": "cancelled"},
        closes[1],
    ]
    s = compute_live_statistics(events)
    assert isinstance(s, LiveStatistics)
    assert (
        s.idle_count,
        s.scheduled_count,
        s.opened_count,
        s.active_count,
        s.closed_count,
        s.cancelled_count,
        s.total_events,
    ) == (1, 1, 1, 2, 2, 1, 8)
    assert s.total_signals == 2
    assert s.total_pnl == pytest.approx(1.0)


def test_live_statistics_of_nothing():
    s = compute_live_statistics([])
    assert s.total_events == 0 and s.closed_count == 0 and s.total_signals == 0


def test_live_statistics_refuse_an_unknown_action():
    with pytest.raises(InputError, match=r"event 0 has action 'opne'"):
        compute_live_statistics([{"action": "opne"}])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 11, 1000, 1001])
def test_the_median_is_numpys_double_for_odd_and_even_counts(n):
    rng = np.random.default_rng(n)
    for scale in (1e-3, 1.0, 1e6):
        values = rng.normal(size=n) * scale
        values[rng.integers(0, n, n // 3)] = values[0]  # ties
        assert median(values) == float(np.median(values))
    assert math.isnan(median(np.array([1.0, math.nan, 2.0])))
