"""The search's ask and tell on a known landscape (no farm: the same proposer the farm uses,
an in-memory study, the metric computed here)."""

from __future__ import annotations

import math
import statistics

import optuna
import pytest

from btfarm.orchestrator.searches.proposer import TrialProposer, open_study
from btfarm.shared.errors import ConfigError, SchemaError
from btfarm.shared.search_space import search

FAST, SLOW = range(2, 22), range(10, 50, 2)  # a 20 x 20 grid, 400 points


def landscape(fast: int, slow: int) -> float:
    """One smooth hill (best 2.3 at fast=13, slow=32) over a floor with ripples."""
    return (
        0.3
        + 2.0 * math.exp(-(((fast - 13) / 5) ** 2) - ((slow - 32) / 8) ** 2)
        + 0.05 * math.sin(fast * slow)
    )


def best_found(seed: int, trials: int) -> tuple[float, int]:
    spec = search("s", n_trials=trials, seed=seed, batch=4, fast=(2, 21), slow=(10, 48))
    proposer = TrialProposer(open_study(spec, f"s{seed}", optuna.storages.InMemoryStorage()), spec)
    ran = 0
    while batch := proposer.ask_batch(spec.batch):
        for trial, params in batch:
            slow = params["slow"] - params["slow"] % 2  # onto the grid's even values
            proposer.tell(trial, params, landscape(params["fast"], slow), f"s[{params}]")
            ran += 1
    return max(t.value for t in proposer.evaluated()), ran


def test_tpe_comes_within_5_percent_of_the_grids_best_in_a_quarter_of_its_evaluations():
    grid_best = max(landscape(f, s) for f in FAST for s in SLOW)
    budget = len(FAST) * len(SLOW) // 4
    results = [best_found(seed, budget) for seed in range(5)]
    assert all(ran == budget for _, ran in results)  # every trial counted ran on "the farm"
    assert statistics.median(v for v, _ in results) >= 0.95 * grid_best


def test_a_constraint_keeps_refused_params_from_running_and_repeats_are_not_run_twice():
    spec = search(
        "s",
        n_trials=30,
        seed=1,
        batch=10,
        sampler="random",
        fast=(1, 6),
        slow=(1, 6),
        constraint=lambda p: p["fast"] < p["slow"],
    )
    proposer = TrialProposer(open_study(spec, "c", optuna.storages.InMemoryStorage()), spec)
    ran = []
    while batch := proposer.ask_batch(spec.batch):
        for trial, params in batch:
            ran.append((params["fast"], params["slow"]))
            proposer.tell(trial, params, float(params["slow"] - params["fast"]), "v")
    assert all(f < s for f, s in ran)
    assert (
        len(ran) == len(set(ran)) == 15
    )  # the space has only 15 points with fast < slow: no more run
    assert proposer.exhausted and proposer.remaining() == 15
    refused = [t for t in proposer.study.trials if t.user_attrs.get("refused")]
    assert refused and all(t.params["fast"] >= t.params["slow"] for t in refused)


def test_a_study_resumes_where_it_stopped_and_a_trial_left_running_runs_again():
    storage = optuna.storages.InMemoryStorage()
    spec = search("s", n_trials=6, seed=3, fast=(1, 100))
    first = TrialProposer(open_study(spec, "r", storage), spec)
    (trial, params), *rest = first.ask_batch(3)
    first.tell(trial, params, 1.0, "v")  # the other two were asked, then the orchestrator died
    again = TrialProposer(open_study(spec, "r", storage), spec)
    assert again.remaining() == 5
    assert [t.state for t in again.study.trials[1:3]] == [optuna.trial.TrialState.FAIL] * 2
    assert len(again.ask_batch(10)) == 5


def test_a_constraint_that_raises_is_one_clear_error():
    spec = search("s", n_trials=2, fast=(1, 9), constraint=lambda p: p["slow"] > 1)
    proposer = TrialProposer(open_study(spec, "e", optuna.storages.InMemoryStorage()), spec)
    with pytest.raises(ConfigError, match="the constraint raised KeyError"):
        proposer.ask_batch(2)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"fast": (5, 5)}, "low must be below high"),
        ({"fast": (0, 9, "log")}, "log range starts above 0"),
        ({"fast": "3..9"}, "is not a range or choices"),
        ({"fast": []}, "has no choices"),
        ({}, "no dimension"),
    ],
)
def test_a_bad_search_space_is_refused_with_the_fix(space, message):
    with pytest.raises(SchemaError, match=message):
        search("s", n_trials=5, **space)
