"""What the search figures refuse to make up, and the walker's thresholds on them."""

from __future__ import annotations

import numpy as np
import pytest

from btfarm.orchestrator.results import trust as sf
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.shared.variant_space import VariantSpace


def _record(daily: list[float] | None, index: int = 0) -> dict:
    at = [i for i, v in enumerate(daily or []) if v]
    return {
        "index": index,
        "daily": None
        if daily is None
        else {"days": len(daily), "at": at, "pnl": [daily[i] for i in at]},
    }


def test_results_without_pnl_per_day_give_no_figure_and_say_why():
    figures, per_variant = sf.trust_figures(
        [("a", _record([1.0, -1.0, 2.0])), ("b", _record(None))], "a"
    )
    assert figures.deflated_sharpe is None and figures.pbo is None and per_variant == {}
    assert "1 ranked results carry no PnL per day" in figures.missing["pbo"]
    assert "No overfitting figure could be computed" in figures.sentence()


def test_one_trial_is_not_deflated_and_has_no_pbo():
    rng = np.random.default_rng(0)
    figures, per_variant = sf.trust_figures([("a", _record(list(rng.normal(0.2, 1, 60))))], "a")
    assert figures.expected_max_sharpe == 0.0  # nothing was selected
    assert figures.deflated_sharpe == pytest.approx(per_variant["a"][1])
    assert figures.pbo is None and "nothing was selected" in figures.missing["pbo"]


def test_pbo_is_not_computed_past_its_memory_cap(monkeypatch):
    monkeypatch.setattr(sf, "PBO_MAX_VARIANTS", 3)
    rng = np.random.default_rng(1)
    ranked = [(f"v{i}", _record(list(rng.normal(0, 1, 40)))) for i in range(4)]
    figures, _ = sf.trust_figures(ranked, "v0")
    assert figures.pbo is None and "computed up to 3" in figures.missing["pbo"]
    assert figures.deflated_sharpe is not None  # the deflated Sharpe ratio streams: no cap


def test_a_short_frame_says_it_is_too_short_for_pbo():
    rng = np.random.default_rng(2)
    figures, _ = sf.trust_figures(
        [(f"v{i}", _record(list(rng.normal(0, 1, 6)))) for i in range(3)], "v0"
    )
    assert figures.pbo is None and "use a longer frame" in figures.missing["pbo"]


def _tally(**thresholds) -> SweepTally:
    space = VariantSpace(
        [{"base": "s", "keys": ["n"], "values": [[0, 1, 2]], "declared": {"n": 0}}]
    )
    tally = SweepTally(
        "w", "SYM", "ex", "fr", "sharpe_ratio", space, "run", 1, min_trades=1, **thresholds
    )
    rng = np.random.default_rng(5)
    for v in space:
        daily = list(np.round(rng.normal(0.05 * v.index, 1, 40), 6))
        tally.add(
            {
                **_record(daily, v.index),
                "strategy_name": v.strategy_name,
                "status": "done",
                "stats": {
                    "total_signals": 40,
                    "sharpe_ratio": float(v.index),
                    "rejected_signals": 0,
                },
                "params": v.params,
            }
        )
    return tally


def test_the_walkers_thresholds_refuse_its_winner_and_only_then():
    data = _tally().data()
    assert data.best_strategy == "s[n=2]" and data.refused is None and data.trust.pbo is not None
    strict = _tally(min_dsr=0.9999, max_pbo=0.0)
    refused = strict.data()
    assert refused.best_strategy is None and refused.best_metric is None
    assert refused.refused.startswith(
        "s[n=2] is not named the winner: its deflated Sharpe ratio is "
    )
    assert "above the walker's max_pbo=0" in refused.refused or refused.trust.pbo == 0.0
    assert [s.strategy_name for s in refused.strategies] == [
        "s[n=2]",
        "s[n=1]",
        "s[n=0]",
    ]  # still listed
    assert strict.best is not None  # best-so-far of the progress is the metric's, as before
    lenient = _tally(min_dsr=0.0, max_pbo=1.0).data()
    assert lenient.best_strategy == "s[n=2]" and lenient.refused is None


def test_a_one_day_frame_gives_no_figure_and_says_why():
    figures, per_variant = sf.trust_figures([("a", _record([1.0])), ("b", _record([2.0]))], "b")
    assert figures.deflated_sharpe is None and figures.pbo is None and per_variant == {}
    assert "a Sharpe ratio per day needs two" in figures.missing["pbo"]


def test_trials_whose_sharpe_spread_is_unknown_are_not_deflated_against_zero():
    rng = np.random.default_rng(4)
    flat = [0.0] * 60  # traded, but never closed with a PnL: no Sharpe ratio per day
    figures, per_variant = sf.trust_figures(
        [("a", _record(list(rng.normal(0.3, 1, 60)))), ("b", _record(flat)), ("c", _record(flat))],
        "a",
    )
    assert figures.deflated_sharpe is None and figures.expected_max_sharpe is None
    assert (
        "the spread of their Sharpe ratios, which SR0 needs, is unknown"
        in figures.missing["deflated_sharpe"]
    )
    assert per_variant["a"][0] is not None and per_variant["a"][1] is None


def test_figures_from_streamed_dailies_in_any_order_are_those_of_the_records():
    rng = np.random.default_rng(9)
    ranked = [(f"v{i}", _record(list(np.round(rng.normal(0.02 * i, 1, 80), 6)))) for i in range(12)]
    held = list(reversed(ranked))  # streamed in another order than the ranking's
    from_records, per_variant = sf.trust_figures(ranked, "v0")
    streamed, per_variant_streamed = sf.trust_figures(
        [(name, {}) for name, _ in ranked], "v0", ((name, rec["daily"]) for name, rec in held)
    )
    assert from_records.pbo is not None and from_records.deflated_sharpe is not None
    assert streamed == from_records and per_variant_streamed == per_variant  # float for float
    lacking, _ = sf.trust_figures(
        [(name, {}) for name, _ in ranked], "v0", ((name, rec["daily"]) for name, rec in held[:-1])
    )
    assert (
        "1 ranked results carry no PnL per day" in lacking.missing["pbo"]
        and "first v0" in lacking.missing["pbo"]
    )


def test_a_winner_refused_on_one_symbol_leaves_no_best_across_symbols():
    from btfarm.orchestrator.reports.symbols_report import render_walker_symbols
    from btfarm.orchestrator.results.symbols import symbols_data

    lenient = _tally(min_dsr=0.0, max_pbo=1.0).data()
    trusted = symbols_data("w", {"A": lenient, "B": _tally(min_dsr=0.0, max_pbo=1.0).data()})
    assert trusted.best_strategy == "s[n=2]" and trusted.refused is None
    strict = _tally(min_dsr=0.9999, max_pbo=0.0).data()
    assert strict.refused
    mixed = symbols_data("w", {"A": lenient, "B": strict})
    assert mixed.best_strategy is None
    assert mixed.refused == f"s[n=2] is not named the best across symbols: B: {strict.refused}"
    assert [r.strategy_name for r in mixed.ranking][
        0
    ] == "s[n=2]"  # still ranked and shown, not named best
    report = render_walker_symbols(mixed)
    assert "- Best across symbols: none: s[n=2] is not named the best across symbols: B: " in report
    assert "★" not in report
    assert "★ **1**" in render_walker_symbols(trusted)
