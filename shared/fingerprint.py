"""The reproducibility fingerprint stamped on every result and report.

Two results with equal fingerprints were computed from the same code, the
same parameters, the same candles and the same costs; a changed fingerprint
says which of those moved.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .candles import Candles
from .engine_config import EngineConfig
from .schemas import StrategySchema


@lru_cache(maxsize=1)
def btfarm_version() -> str:  # importlib.metadata reads the dist-info on every call
    try:
        return version("btfarm")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def source_hash(strategy: StrategySchema) -> str:
    """A hash of the source of the strategy's signal function(s) (their bytecode when no source),
    and of its position plan when it has one (rules as data change trades as code does)."""
    h = hashlib.blake2b(digest_size=8)
    for fn in (strategy.get_signal, strategy.get_signals):
        if fn is not None:
            h.update(_function_source(fn))
    plan = getattr(strategy, "position_plan", None)
    if plan is not None:
        h.update(plan.model_dump_json().encode())
    return h.hexdigest()


@lru_cache(maxsize=1024)
def _function_source(fn: Any) -> bytes:
    # inspect.getsource re-reads and re-tokenises the file: ~2 ms, once per function is enough
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):  # built in a REPL or C: the code object still identifies it
        code = getattr(fn, "__code__", None)
        return code.co_code if code is not None else repr(fn).encode()


def fingerprint(
    strategy: StrategySchema,
    params: dict[str, Any] | None,
    candles: Candles,
    cfg: EngineConfig,
    strategy_name: str | None = None,
) -> dict[str, Any]:
    """JSON-ready fingerprint of one variant's run."""
    used = dict(strategy.params) if params is None else dict(params)
    return {
        "btfarm_version": btfarm_version(),
        "strategy_name": strategy_name or strategy.strategy_name,
        "params": json.loads(json.dumps(used, sort_keys=True, default=str)),
        **_shared_part(strategy, candles, cfg),
    }


def _shared_part(strategy: StrategySchema, candles: Candles, cfg: EngineConfig) -> dict[str, Any]:
    """The fields every variant of one strategy on these candles and costs shares, kept on the
    candles (a sweep's variants ask for them one after another; making them was ~15 us each)."""
    key = ("fingerprint", id(strategy), id(cfg))
    kept = candles.memo.get(key)
    if kept is not None and kept[0] is strategy and kept[1] is cfg:  # (ids of the same objects)
        return kept[2]
    shared = {
        "source_hash": source_hash(strategy),
        "data_start_ms": int(candles.timestamp[0]) if len(candles) else None,
        "data_end_ms": int(candles.timestamp[-1]) if len(candles) else None,
        "candles": len(candles),
        "candles_digest": candles.digest(),
        "fee_percent": cfg.CC_PERCENT_FEE,
        "slippage_percent": cfg.CC_PERCENT_SLIPPAGE,
        "config_hash": config_hash(cfg),
    }
    candles.memo[key] = (strategy, cfg, shared)
    return shared


@lru_cache(maxsize=64)
def config_hash(cfg: EngineConfig) -> str:
    """A hash of every engine constant; kept per config (it is frozen): a sweep's variants share one,
    and dumping and hashing it again was a third of a year variant's fingerprint."""
    return hashlib.blake2b(
        json.dumps(cfg.model_dump(), sort_keys=True).encode(), digest_size=8
    ).hexdigest()
