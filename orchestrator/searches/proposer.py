"""Optuna's ask and tell for a search: trials proposed a batch at a time, told their metric.

The study lives in the sweep's Redis (Optuna's journal storage over searches/journal.py), named
by what makes a search the same (its space, sampler, seed, constraint, the strategy's
code, the data): running the walker again resumes it, and a changed search or code
starts a study of its own instead of ranking two versions together.

Only trials that ran count toward ``n_trials``. A trial whose params fail the
constraint is told failed (marked "refused") and never runs; one whose params
already ran is told that result (marked "repeat_of") and does not run again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import Trial, TrialState

from btfarm.shared.errors import ConfigError
from btfarm.shared.search_space import Search

ASKS_PER_TRIAL = 50  # proposals per wanted trial before concluding the space has no new point
optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would bury the progress bar
log = logging.getLogger("btfarm.search")


def distributions(search: Search) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for key, dim in search.space.items():
        if dim.kind == "categorical":
            out[key] = CategoricalDistribution(dim.choices or [])
            continue
        assert dim.low is not None and dim.high is not None  # a range has both (search_space.py)
        if dim.kind == "int":
            out[key] = IntDistribution(int(dim.low), int(dim.high), log=dim.log)
        else:
            out[key] = FloatDistribution(float(dim.low), float(dim.high), log=dim.log)
    return out


def open_study(search: Search, name: str, storage: Any) -> optuna.Study:
    sampler = (
        optuna.samplers.TPESampler(seed=search.seed)
        if search.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=search.seed)
    )
    return optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, direction="maximize", load_if_exists=True
    )


def params_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


class TrialProposer:
    """Batches of new trials for ``search`` from ``study``; ``tell`` each one's metric."""

    def __init__(self, study: optuna.Study, search: Search) -> None:
        self.study, self.search = study, search
        self.dists = distributions(search)
        self.exhausted = False  # the sampler offered no new params in ASKS_PER_TRIAL asks per trial
        self._known: dict[str, float | None] = {}  # params -> the metric of the trial that ran them
        for trial in study.get_trials(deepcopy=False):
            if trial.state == TrialState.RUNNING:  # asked by an orchestrator that died: runs again
                study.tell(trial.number, state=TrialState.FAIL)
                continue
            if trial.user_attrs.get("evaluated"):
                self._known[params_key(trial.params)] = (
                    trial.value if trial.state == TrialState.COMPLETE else None
                )

    def evaluated(self) -> list[optuna.trial.FrozenTrial]:
        """The trials that ran, in trial order."""
        return [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("evaluated")]

    def remaining(self) -> int:
        return max(0, self.search.n_trials - len(self._known))

    def ask_batch(self, size: int) -> list[tuple[Trial, dict[str, Any]]]:
        """Up to ``size`` trials with new params that pass the constraint (fewer when the
        space has no new point to offer or the search is complete)."""
        batch: list[tuple[Trial, dict[str, Any]]] = []
        pending: set[str] = set()
        wanted = min(size, self.remaining())
        for _ in range(ASKS_PER_TRIAL * max(wanted, 1)):
            if len(batch) >= wanted:
                break
            trial = self.study.ask(self.dists)
            params = dict(trial.params)
            key = params_key(params)
            if self.search.constraint is not None and not self._passes(params):
                trial.set_user_attr("refused", "constraint")
                self.study.tell(trial, state=TrialState.FAIL)
            elif key in self._known or key in pending:
                trial.set_user_attr("repeat_of", key)
                # a repeat within the batch learns nothing yet: failed, so the sampler moves on
                self._tell(trial, self._known.get(key))
            else:
                pending.add(key)
                batch.append((trial, params))
        self.exhausted = not batch and wanted > 0
        return batch

    def drop(self, trial: Trial) -> None:
        """``trial`` never ran (its batch was stopped or interrupted): told failed, so the
        study keeps no trial running; its params are new again to the next ask."""
        trial.set_user_attr("not_run", True)
        self.study.tell(trial, state=TrialState.FAIL)

    def _passes(self, params: dict[str, Any]) -> bool:
        constraint = self.search.constraint
        if constraint is None:
            return True
        try:
            return bool(constraint(params))
        except Exception as exc:  # the user's function: its fault named, nothing run
            raise ConfigError(
                f"search({self.search.strategy_name!r}): the constraint raised "
                f"{type(exc).__name__}: {exc} on {params}; fix the constraint"
            ) from exc

    def tell(self, trial: Trial, params: dict[str, Any], value: float | None, variant: str) -> None:
        """The trial ran: its metric (None when it failed or is not comparable: told failed)."""
        trial.set_user_attr("evaluated", True)
        trial.set_user_attr("variant", variant)
        self._tell(trial, value)
        self._known[params_key(params)] = value

    def _tell(self, trial: Trial, value: float | None) -> None:
        """``value`` as the trial's metric, or the trial failed when there is none."""
        if value is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, value)
