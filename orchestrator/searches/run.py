"""A walker whose strategy is a ``search``: Optuna proposes a batch of trials, the batch
runs on the farm as a sweep of its own (walker ``NAME.trials``, a run id per batch),
each trial is told its metric, until ``n_trials`` ran or the walker is stopped. A batch
that ends interrupted (no result within ``BTFARM_SWEEP_IDLE_TIMEOUT``: no worker answered)
ends the search as interrupted too, naming the command that goes on: asking the same farm
again would only wait again.

The study is kept in the sweep's Redis as JSON journal lines under btfarm's prefix, never a
pickled snapshot (searches/journal.py), with each trial's result record, so running the
walker again resumes it: the trials that ran are read back and only the rest run. The
walker itself is claimed in Redis for the whole search, so two orchestrators never run
it at once (and never propose trials to one study together).
What ``get_data`` gives is one ranking of every trial that ran, as for a grid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from btfarm.orchestrator.instances import Instance
from btfarm.orchestrator.run_thread import RunThread
from btfarm.orchestrator.state_client import state
from btfarm.orchestrator.sweeps import fanout, local_pool
from btfarm.orchestrator.sweeps.launch import PlanKind, SweepLauncher
from btfarm.orchestrator.sweeps.local_pool import local_slots, pool_imports
from btfarm.orchestrator.sweeps.progress_log import Entry, ProgressLog
from btfarm.orchestrator.sweeps.run import check_data
from btfarm.orchestrator.sweeps.tally import SweepTally
from btfarm.orchestrator.sweeps.user_script import check_main_guard
from btfarm.shared.errors import SchemaError
from btfarm.shared.fingerprint import source_hash
from btfarm.shared.ranking import metric_value
from btfarm.shared.registry import get_exchange, get_frame, get_strategy, registry
from btfarm.shared.schemas import WalkerSchema, sweep
from btfarm.shared.search_space import Search
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, stop_flags, sweep_plan
from btfarm.shared.store.embedded_redis import embedded_server
from btfarm.shared.variant_space import VariantSpace

log = logging.getLogger("btfarm.search")
TRIALS_PER_SLOT = (
    2  # default batch: two trials per pool process, so no process waits on the sampler
)
CLAIM_RENEW_SECONDS = 1.0  # the walker's claim lapses after keys.WALKER_LEASE_SECONDS unrenewed


def trials_walker(walker_name: str) -> str:
    """The walker each batch runs as (``btfarm list`` shows it beside the search)."""
    return f"{walker_name}.trials"


@dataclass
class SearchPlan:
    walker: WalkerSchema
    search: Search
    symbol: str
    run_id: str
    study: str
    batch: int
    chunk_size: int | None
    imports: tuple[str, ...]


def study_name(search: Search, walker_name: str, symbol: str, context: dict[str, Any]) -> str:
    """``btfarm:WALKER:SYMBOL:HASH`` of the search and what it runs on (code, data, metric)."""
    digest = hashlib.sha256(
        json.dumps({**search.identity(), **context}, sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    return f"btfarm:{walker_name}:{symbol}:{digest}"


def new_search(
    walker: WalkerSchema, symbol: str, chunk_size: int | None, needed_by: str
) -> SearchPlan:
    """Every check before a search starts: its strategy and params, the data, the script's guard."""
    spec = walker.search
    assert spec is not None, "new_search runs a walker that holds a search"
    strategy = get_strategy(spec.strategy_name, needed_by)
    unknown = [k for k in spec.space if strategy.params and k not in strategy.params]
    if unknown:
        raise SchemaError(
            f"walker {walker.walker_name!r}: search of {spec.strategy_name!r} sets "
            f"{', '.join(map(repr, unknown))}, not among its params ({', '.join(strategy.params)})"
        )
    exchange, frame = (
        get_exchange(walker.exchange_name, needed_by),
        get_frame(walker.frame_name, needed_by),
    )
    coverage = check_data(exchange, frame, symbol)
    imports = pool_imports(
        walker.walker_name, walker.exchange_name, walker.frame_name, [spec.strategy_name]
    )
    check_main_guard(imports, needed_by)
    settings = get_settings()
    slots = local_slots(settings) if settings.embedded else fanout.live_slots(state())
    context = {
        "exchange": walker.exchange_name,
        "frame": walker.frame_name,
        "data": coverage.describe(),
        "code": source_hash(strategy),
        "metric": walker.metric,
        "min_trades": walker.min_trades,
    }
    return SearchPlan(
        walker=walker,
        search=spec,
        symbol=symbol,
        run_id=uuid.uuid4().hex[:16],
        study=study_name(spec, walker.walker_name, symbol, context),
        batch=spec.batch or max(1, TRIALS_PER_SLOT * slots),
        chunk_size=chunk_size,
        imports=tuple(imports),
    )


def run_search(launcher: SweepLauncher, inst: Instance, task: RunThread, plan: SearchPlan) -> None:
    """Ask, run a batch as a sweep (through ``launcher``), tell; until done, stopped or interrupted."""
    # optuna with the first search, not with every import of btfarm (~0.2 s)
    from btfarm.orchestrator.searches.journal import open_storage
    from btfarm.orchestrator.searches.proposer import ASKS_PER_TRIAL, TrialProposer, open_study

    settings = get_settings()
    r = state()
    walker, spec, symbol = plan.walker, plan.search, plan.symbol
    name = walker.walker_name
    inst.id = plan.run_id
    # the search's own id has no sweep plan: a resume of it is told to run the walker again
    r.set(
        keys.search_run(plan.run_id),
        json.dumps({"walker_name": name, "symbol": symbol, "study": plan.study}),
        ex=keys.WALKER_RESULT_TTL_SECONDS,
    )
    done = threading.Event()
    renewer = threading.Thread(
        target=_renew_claim, args=(name, symbol, done), daemon=True, name=f"btfarm-claim-{name}"
    )
    renewer.start()
    url = (
        embedded_server(settings.state_dir).url
        if settings.embedded
        else (settings.state_url or settings.redis_url or "")  # not embedded: one is set
    )
    pool = (
        local_pool.acquire(url, plan.imports, settings) if settings.embedded else None
    )  # one for every batch
    try:
        # JSON journal lines under btfarm's prefix, never a snapshot (searches/journal.py)
        proposer = TrialProposer(open_study(spec, plan.study, open_storage(r, plan.study)), spec)
        ran = [
            (t.number, t.params, json.loads(t.user_attrs["record"]))
            for t in proposer.evaluated()
            if "record" in t.user_attrs
        ]
        inst.data, entries = _tally(plan, ran)
        inst.data.resumed = len(ran)
        read_back = ProgressLog(
            inst.data
        )  # read back: progress covers them first, as a resume's does
        for entry in entries:
            read_back.append(entry)
            # (a study may hold more trials than n_trials asks now, if it was lowered: all are counted)
            task.push(
                read_back.item(len(read_back) - 1).model_copy(
                    update={"total_strategies": max(spec.n_trials, len(ran))}
                )
            )
        interrupted = ""
        while proposer.remaining() and not _stopped(r, inst, symbol, name):
            batch = proposer.ask_batch(plan.batch)
            if not batch:
                break
            inner = trials_walker(name)
            # registered as by the search's own module: the batch's pool imports what the search's does
            registry.add(
                "walker",
                None,
                True,
                {
                    "walker_name": inner,
                    "exchange_name": walker.exchange_name,
                    "frame_name": walker.frame_name,
                    "metric": walker.metric,
                    "min_trades": walker.min_trades,
                    "strategies": [
                        sweep(spec.strategy_name, **{k: [v] for k, v in params.items()})
                        for _, params in batch
                    ],
                },
                origin=registry.origin("walker", name),
            )
            _, batch_task = launcher.start(
                symbol, inner, plan.chunk_size, f"the search of walker {name!r}"
            )
            before = inst.data  # every trial so far: its best and its count of done ones
            best = (before.best[1], before.best[0]) if before.best else None
            for p in batch_task.follow():
                if p.best_metric is not None and (best is None or p.best_metric > best[0]):
                    best = (p.best_metric, p.best_strategy)
                task.push(
                    p.model_copy(
                        update={
                            "walker_name": name,
                            "strategies_tested": before.tested + p.strategies_tested,
                            "total_strategies": spec.n_trials,
                            "best_strategy": best[1] if best else None,
                            "best_metric": best[0] if best else None,
                        }
                    )
                )
            tally = launcher.tally(symbol, inner, "the search")
            for index, (trial, params) in enumerate(batch):
                record = tally.held.get(index)
                if record is None or record["status"] == "stopped":
                    proposer.drop(trial)  # never ran: asked again when the search goes on
                    continue
                ranked = record["status"] == "done" and tally.unranked_reason(record) is None
                value = metric_value(record["stats"], walker.metric) if ranked else None
                trial.set_user_attr("record", json.dumps(record, separators=(",", ":")))
                proposer.tell(trial, params, value, record["strategy_name"])
                ran.append((trial.number, params, record))
            inst.data = _tally(plan, ran)[0]
            inst.data.resumed = before.resumed
            if launcher.outcome(symbol, inner) == "interrupted":
                # no worker answered (or Redis went away): asking again would ask the same farm,
                # so the search ends here, as a grid sweep does, saying how it goes on
                interrupted = _interrupted_note(plan, tally, len(ran))
                break
        if interrupted:
            inst.data.interrupted = inst.data.search_note = interrupted
            inst.outcome = "interrupted"
            log.error("search %s on %s: %s", name, symbol, interrupted)
        if proposer.exhausted:
            inst.data.search_note = (
                f"the sampler offered no new params in {ASKS_PER_TRIAL} asks per trial wanted "
                f"(the space has no more points to try): {len(ran)} of {spec.n_trials} "
                "trials ran"
            )
        inst.data.stopped = _stopped(r, inst, symbol, name)
    finally:
        done.set()
        if pool is not None:
            local_pool.release(pool)
        sweep_plan.release_claim_of(r, name, symbol, plan.run_id)


def _interrupted_note(plan: SearchPlan, batch: SweepTally, ran: int) -> str:
    """Why the search ended with its batch ``batch`` interrupted, and the command that goes on
    (the batch's own resume would run its trials without telling the study)."""
    why = re.split(r";?\s*`btfarm walker resume", batch.interrupted or "not every trial came back")[
        0
    ]
    first, *more = plan.imports or ("MODULE",)
    words = [
        "btfarm",
        "walker",
        first,
        plan.walker.walker_name,
        "--symbol",
        plan.symbol,
        *(word for module in more for word in ("--import", module)),
    ]
    return (
        f"its batch of trials (sweep {batch.run_id}) ended interrupted: {why}; {ran} of "
        f"{plan.search.n_trials} trials ran, kept in study {plan.study}: run the walker again to go on: "
        f"{' '.join(shlex.quote(w) for w in words)}"
    )


def _stopped(r, inst: Instance, symbol: str, name: str) -> bool:
    return inst.stop_event.is_set() or stop_flags.is_stop_requested(r, "walker", symbol, name)


def _renew_claim(name: str, symbol: str, done: threading.Event) -> None:
    while not done.wait(CLAIM_RENEW_SECONDS):
        try:
            state().expire(keys.walker_owner(name, symbol), keys.WALKER_LEASE_SECONDS)
        except Exception:  # Redis away: the search's own calls fail and say so
            pass


def _tally(
    plan: SearchPlan, ran: list[tuple[int, dict[str, Any], dict[str, Any]]]
) -> tuple[SweepTally, list[Entry]]:
    """One tally of every trial that ran, in trial order, as a grid's would be, and the
    progress entry each trial made (tested so far, best so far: the sweep's own rules)."""
    walker, spec = plan.walker, plan.search
    declared = dict(get_strategy(spec.strategy_name, "the search").params)
    space = VariantSpace(
        [
            {
                "base": spec.strategy_name,
                "keys": list(params),
                "values": [[v] for v in params.values()],
                "declared": declared or None,
            }
            for _, params, _ in ran
        ]
    )
    tally = SweepTally(
        walker.walker_name,
        plan.symbol,
        walker.exchange_name,
        walker.frame_name,
        walker.metric,
        space,
        plan.run_id,
        plan.batch,
        walker.min_trades,
        walker.min_dsr,
        walker.max_pbo,
    )
    entries = []
    for index, (number, _, record) in enumerate(ran):
        entry = tally.add({**record, "index": index})
        if entry is not None:
            entries.append(entry)
        tally.search_trials.append((number, record["strategy_name"]))
    tally.search_spec = (
        f"{spec.sampler} over {', '.join(f'{k}: {d.describe()}' for k, d in spec.space.items())}"
        + (", with a constraint" if spec.constraint else "")
        + f"; study {plan.study}"
    )
    return tally, entries


SEARCH = PlanKind(  # a walker whose strategy is a search: SweepLauncher starts it like a sweep
    applies=lambda walker: walker.search is not None,
    new_plan=new_search,
    context=lambda plan: {
        "exchange_name": plan.walker.exchange_name,
        "frame_name": plan.walker.frame_name,
    },
    run=run_search,
)
