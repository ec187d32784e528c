"""A sweep's plan and attempts in Redis: what a resume needs to finish it.

A sweep stores what it is (``keys.walker_run``: walker, symbol, its variants as
the grids the user wrote (shared/variant_space.py), chunk size, metric, the code
it ranks) before it submits anything; each attempt (the first run, then each
resume) increments ``attempt`` and holds
``keys.walker_lease`` while it collects; its end writes the state and the tested
count. ``keys.walker_timing`` keeps the last measured seconds per variant, which
sizes the next sweep's chunks.
"""

from __future__ import annotations

import json
import time

import redis
from pydantic import BaseModel, ConfigDict
from redis.typing import EncodableT, FieldT

from ..errors import AlreadyRunningError, NotFoundError, PersistenceError
from ..settings import get_settings, redact_url
from ..variant_space import VariantSpace
from . import keys
from .replies import text, texts

RUN_STATE_RUNNING = "running"  # the walker_run hash's state while an attempt collects


class SweepPlan(BaseModel):
    """What a sweep is, stored under ``keys.walker_run`` so a resume can finish it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    chunk_size: int
    variants: VariantSpace  # by index; stored as the grids (a million variants: a few value lists)
    imports: list[str] = []  # what the pool imports; stored as a hint only, a resume never runs it
    code: dict[
        str, str
    ] = {}  # strategy -> source hash the sweep ranks (one code version per ranking)
    min_trades: int = 0  # variants with fewer closed signals are listed, not ranked
    min_dsr: float | None = None  # the winner's floor of deflated Sharpe ratio (WalkerSchema)
    max_pbo: float | None = None  # the sweep's ceiling of probability of backtest overfitting
    coverage: str = ""  # what the checked candles cover (coverage.Coverage.describe); not stored

    def to_redis(self) -> dict[FieldT, EncodableT]:
        return {
            "walker_name": self.walker_name,
            "symbol": self.symbol,
            "imports": json.dumps(self.imports),
            "code": json.dumps(self.code),
            "min_trades": self.min_trades,
            "min_dsr": "" if self.min_dsr is None else self.min_dsr,
            "max_pbo": "" if self.max_pbo is None else self.max_pbo,
            "exchange_name": self.exchange_name,
            "frame_name": self.frame_name,
            "metric": self.metric,
            "chunk_size": self.chunk_size,
            "total": len(self.variants),
            "spec": self.variants.to_json(),
        }

    @classmethod
    def from_redis(cls, run_id: str, fields: dict[str, str]) -> SweepPlan:
        return cls(
            run_id=run_id,
            walker_name=fields["walker_name"],
            symbol=fields["symbol"],
            exchange_name=fields["exchange_name"],
            frame_name=fields["frame_name"],
            metric=fields["metric"],
            chunk_size=int(fields["chunk_size"]),
            variants=VariantSpace.from_json(fields["spec"]),
            imports=json.loads(fields.get("imports", "[]")),
            code=json.loads(fields.get("code", "{}")),
            min_trades=int(fields.get("min_trades", 0)),
            min_dsr=_optional_float(fields.get("min_dsr")),
            max_pbo=_optional_float(fields.get("max_pbo")),
        )


def _optional_float(text: str | None) -> float | None:
    return float(text) if text else None


def read_plan(r: redis.Redis, run_id: str, needed_by: str = "Walker.resume") -> SweepPlan:
    """The stored plan of sweep ``run_id``; NotFoundError (naming ``needed_by``) when Redis has none."""
    fields = r.hgetall(keys.walker_run(run_id))
    if not fields.get("spec") and not fields.get(
        "variants"
    ):  # "variants": an older btfarm's plan, below
        search = r.get(keys.search_run(run_id))
        if search:
            found = json.loads(search)
            raise NotFoundError(
                f"{run_id!r} is the run of a search (walker {found['walker_name']!r} on {found['symbol']}), "
                f"which has no sweep to resume: run the walker again (btfarm walker MODULE "
                f"{found['walker_name']} --symbol {found['symbol']}); its Optuna study {found['study']!r} "
                "keeps every trial that ran, and the search goes on from them"
            )
        settings = get_settings()
        raise NotFoundError(
            f"no sweep {run_id!r} is stored in Redis at {redact_url(settings.state_url or settings.redis_url)} "
            f"(needed by {needed_by}); sweeps are kept {keys.WALKER_RESULT_TTL_SECONDS // 86_400} days, "
            "on the Redis the sweep used"
        )
    if not fields.get("spec"):
        raise PersistenceError(
            f"sweep {run_id!r} was stored by an older btfarm (its variants as an expanded list, "
            f"{keys.walker_run(run_id)}); this one stores the grids and cannot resume it; it was "
            "left untouched; run the walker again (a new sweep)"
        )
    try:
        return SweepPlan.from_redis(run_id, texts(fields))
    except (KeyError, ValueError, TypeError) as exc:  # ValueError covers JSON and pydantic errors
        raise PersistenceError(
            f"sweep {run_id!r} is stored in Redis ({keys.walker_run(run_id)}) but its plan is "
            f"unreadable ({type(exc).__name__}: {str(exc)[:200]}); it was left untouched; "
            "run the walker again (a new sweep) instead of resuming it"
        ) from exc


def queue_attempt(pipe: redis.client.Pipeline, plan: SweepPlan, resume: bool) -> None:
    """A new attempt on ``pipe`` (a MULTI: the plan and the attempt appear together); the
    attempt number is the reply of its first command after the plan."""
    run_key = keys.walker_run(plan.run_id)
    if not resume:
        pipe.hset(run_key, mapping={**plan.to_redis(), "started_at": int(time.time() * 1000)})
    pipe.hincrby(run_key, "attempt", 1)
    pipe.hset(run_key, "state", RUN_STATE_RUNNING)
    pipe.expire(run_key, keys.WALKER_RESULT_TTL_SECONDS)


def plan_exists(r: redis.Redis, run_id: str) -> bool:
    """False once Redis lost the sweep (restarted without persistence)."""
    return bool(r.exists(keys.walker_run(run_id)))


def queue_restore(pipe: redis.client.Pipeline, plan: SweepPlan, attempt: int) -> None:
    """Store a lost sweep again as attempt ``attempt`` (then its results, result_blocks.store)."""
    run_key = keys.walker_run(plan.run_id)
    pipe.hset(
        run_key,
        mapping={
            **plan.to_redis(),
            "started_at": int(time.time() * 1000),
            "attempt": attempt,
            "state": RUN_STATE_RUNNING,
        },
    )
    pipe.expire(run_key, keys.WALKER_RESULT_TTL_SECONDS)
    pipe.set(
        keys.walker_owner(plan.walker_name, plan.symbol), plan.run_id, ex=keys.WALKER_LEASE_SECONDS
    )


def attempt_of(replies: list, resume: bool) -> int:
    """The attempt number among the replies of a pipe ``queue_attempt`` began."""
    return int(replies[0 if resume else 1])


def claim(r: redis.Redis, plan: SweepPlan) -> None:
    """Take the walker and symbol for ``plan`` (``keys.walker_owner``), or AlreadyRunningError
    naming the sweep that holds them: two orchestrators never run one walker twice."""
    claim_walker(r, plan.walker_name, plan.symbol, plan.run_id)


def claim_walker(r: redis.Redis, walker_name: str, symbol: str, run_id: str) -> None:
    """``claim`` by name (a search holds its walker this way for all its batches)."""
    key = keys.walker_owner(walker_name, symbol)
    if r.set(key, run_id, nx=True, ex=keys.WALKER_LEASE_SECONDS):
        return
    found = r.get(key)
    holder = None if found is None else text(found)
    if holder == run_id:  # a resume of the sweep that held it (its orchestrator died)
        return
    raise AlreadyRunningError(
        f"walker {walker_name!r} on {symbol} is already running as sweep {holder} (in another "
        f"process or on another host); follow it with `btfarm list --mode walker`, stop it with "
        f"`btfarm stop walker {symbol} {walker_name}`, or run this one when it ends"
    )


def release_claim_of(r: redis.Redis, walker_name: str, symbol: str, run_id: str) -> None:
    """Give back a claim ``run_id`` took but will not run (another sweep of the same call was refused)."""
    key = keys.walker_owner(walker_name, symbol)
    if r.get(key) == run_id:  # only its own: another run may have claimed since
        r.delete(key)


def hold_lease(r: redis.Redis, run_id: str, attempt: int, walker_name: str, symbol: str) -> None:
    """Renew the lease (workers drop this sweep's chunks once it lapses) and the claim."""
    pipe = r.pipeline(transaction=False)
    pipe.set(keys.walker_lease(run_id), attempt, ex=keys.WALKER_LEASE_SECONDS)
    pipe.expire(keys.walker_owner(walker_name, symbol), keys.WALKER_LEASE_SECONDS)
    pipe.execute()


def queue_end(
    pipe: redis.client.Pipeline,
    plan: SweepPlan,
    symbol: str,
    state: str,
    tested: int,
    seconds_per_variant: float | None,
) -> None:
    """The attempt's end: its state, the lease dropped, and the measured cost per variant."""
    pipe.hset(keys.walker_run(plan.run_id), mapping={"state": state, "tested": tested})
    pipe.delete(keys.walker_lease(plan.run_id))
    pipe.delete(keys.walker_owner(plan.walker_name, symbol))
    if seconds_per_variant:
        pipe.set(
            keys.walker_timing(plan.walker_name, symbol),
            seconds_per_variant,
            ex=keys.WALKER_RESULT_TTL_SECONDS,
        )


def measured_seconds(r: redis.Redis, walker_name: str, symbol: str) -> float | None:
    """The last sweep's real cost per variant, if one was measured."""
    value = r.get(keys.walker_timing(walker_name, symbol))
    return float(value) if value else None
