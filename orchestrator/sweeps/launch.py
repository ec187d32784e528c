"""Starting, joining and resuming a walker's runs: the one door through which the walker,
a search's batches and walk-forward's training windows start sweeps.

A run's kind (a grid sweep, or an Optuna search) is a ``PlanKind``: how its plan is made,
and so checked, before anything starts, and what produces its results. The grid kind is
here; the search kind is given by ``searches/run.py``, so this module imports nothing
above the sweep protocol and the kinds that build on it never import the walker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from btfarm.orchestrator.instances import ExecutionClass, Instance
from btfarm.orchestrator.run_thread import RunThread
from btfarm.orchestrator.state_client import state
from btfarm.orchestrator.sweeps.run import new_plan, resumable_plan, run_sweep
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.shared.errors import AlreadyRunningError, NotFoundError
from btfarm.shared.registry import get_walker
from btfarm.shared.schemas import WalkerSchema
from btfarm.shared.store import sweep_plan


@dataclass(frozen=True)
class PlanKind:
    """One kind of walker run: whether a walker is of it, its plan (made, and so checked,
    before any run starts; it carries ``run_id``), the plan's exchange and frame, and the
    function that produces the run's results on its thread."""

    applies: Callable[[WalkerSchema], bool]
    new_plan: Callable[
        [WalkerSchema, str, int | None, str], Any
    ]  # walker, symbol, chunk size, needed by
    context: Callable[[Any], dict[str, str]]
    run: Callable[[SweepLauncher, Instance, RunThread, Any], None]


GRID = PlanKind(
    applies=lambda walker: True,
    new_plan=lambda walker, symbol, chunk_size, needed_by: new_plan(
        symbol, walker.walker_name, chunk_size, needed_by
    ),
    context=lambda plan: {"exchange_name": plan.exchange_name, "frame_name": plan.frame_name},
    run=lambda launcher, inst, task, plan: run_sweep(inst, task, plan, resume=False),
)


class SweepLauncher:
    """Starts the runs of one ``ExecutionClass`` (the walker's): each kind in ``kinds`` is
    tried in order, the grid last."""

    def __init__(self, instances: ExecutionClass, kinds: Sequence[PlanKind] = ()) -> None:
        self.instances = instances
        self.kinds = (*kinds, GRID)

    def kind_of(self, walker: WalkerSchema) -> PlanKind:
        return next(kind for kind in self.kinds if kind.applies(walker))

    def start_all(
        self, pairs: list[tuple[str, str]], chunk_size: int | None, needed_by: str
    ) -> list[tuple[Instance, RunThread]]:
        """A run per (symbol, walker), side by side: every plan made (and so checked) and
        claimed before any starts; one already running in this process is joined."""
        plans: dict[tuple[str, str], tuple[PlanKind, Any]] = {}
        for symbol, name in pairs:
            task = self.instances.instance(symbol, name).task
            if task is None or task.finished:
                walker = get_walker(name, needed_by)
                kind = self.kind_of(walker)
                plans[(symbol, name)] = (kind, kind.new_plan(walker, symbol, chunk_size, needed_by))
        claimed: list[tuple[str, str, str]] = []
        try:
            for (symbol, name), (_, plan) in plans.items():
                sweep_plan.claim_walker(state(), name, symbol, plan.run_id)
                claimed.append((name, symbol, plan.run_id))
        except AlreadyRunningError:
            for name, symbol, run_id in claimed:  # nothing started: what was claimed is free again
                sweep_plan.release_claim_of(state(), name, symbol, run_id)
            raise
        out = []
        for symbol, name in pairs:
            inst = self.instances.instance(symbol, name)
            found = plans.get((symbol, name))
            if found is None:  # running in this process when the plans were made: joined
                out.append((inst, cast(RunThread, inst.task)))
                continue
            kind, plan = found
            out.append(
                (
                    inst,
                    self.instances.start_or_join(
                        inst, kind.context(plan), self._runner(kind, plan)
                    ),
                )
            )
        return out

    def _runner(self, kind: PlanKind, plan: Any) -> Callable[[Instance, RunThread], None]:
        """What runs ``plan`` of ``kind`` on the instance's thread."""

        def run(inst: Instance, task: RunThread) -> None:
            kind.run(self, inst, task, plan)

        return run

    def start(
        self, symbol: str, walker_name: str, chunk_size: int | None, needed_by: str
    ) -> tuple[Instance, RunThread]:
        """The run of ``walker_name`` on ``symbol``: joined if this process runs it, else
        started (refused, naming its run id, if another process runs it: its claim)."""
        inst = self.instances.instance(symbol, walker_name)
        if inst.task is not None and not inst.task.finished:
            return inst, inst.task
        return self.start_all([(symbol, walker_name)], chunk_size, needed_by)[0]

    def resume(self, run_id: str) -> tuple[Instance, RunThread]:
        """Finish the stored grid sweep ``run_id``: only variants without a result run."""
        plan = resumable_plan(run_id)
        sweep_plan.claim(state(), plan)
        inst = self.instances.instance(plan.symbol, plan.walker_name)
        context = {"exchange_name": plan.exchange_name, "frame_name": plan.frame_name}
        return inst, self.instances.start_or_join(
            inst, context, lambda i, t: run_sweep(i, t, plan, resume=True)
        )

    def tally(self, symbol: str, walker_name: str, needed_by: str) -> SweepTally:
        """The results of the run of ``walker_name`` on ``symbol`` in this process."""
        data = self.instances.instance(symbol, walker_name).data
        if not isinstance(data, SweepTally):
            raise NotFoundError(
                f"no walker {symbol}:{walker_name} has run in this process "
                f"(needed by {needed_by}); call Walker.run or Walker.background first"
            )
        return data

    def outcome(self, symbol: str, walker_name: str) -> str:
        """How the last run of ``walker_name`` on ``symbol`` in this process ended."""
        return self.instances.instance(symbol, walker_name).outcome
