"""The variants of a chunk sent by index, read from its sweep's stored plan.

A sweep's chunks carry their variants' indices only (shared/payloads.py
``Chunk.indices``); the worker reads the sweep's variant space (the grids the
user wrote, ``keys.walker_run`` field ``spec``) once per sweep and process,
and builds each variant from its index as the orchestrator would. The plan
is data (names and parameters), never code: the strategies run are those
this worker registered by importing the user's modules.
"""

from __future__ import annotations

from collections import OrderedDict

import redis

from btfarm.shared.payloads import Chunk, Variant
from btfarm.shared.store import keys
from btfarm.shared.variant_space import VariantSpace

KEPT_SPACES = 4  # sweeps whose variant space this process keeps (a worker serves a few at a time)

_spaces: OrderedDict[str, VariantSpace] = OrderedDict()


def chunk_variants(r: redis.Redis, chunk: Chunk) -> tuple[list[Variant], list[Variant]] | None:
    """(its own variants, those it may steal) of ``chunk``; None when the chunk names them by
    index and its sweep's plan is gone (a Redis that came back empty: nobody collects it)."""
    if not chunk.by_index:
        return list(chunk.variants), list(chunk.steal)
    space = _space(r, chunk.run_id)
    if space is None:
        return None
    return [space[i] for i in chunk.indices], [space[i] for i in chunk.steal_indices]


def _space(r: redis.Redis, run_id: str) -> VariantSpace | None:
    space = _spaces.get(run_id)
    if space is not None:
        _spaces.move_to_end(run_id)
        return space
    spec = r.hget(keys.walker_run(run_id), "spec")
    if not spec:
        return None
    space = _spaces[run_id] = VariantSpace.from_json(
        spec.decode() if isinstance(spec, bytes) else spec
    )
    while len(_spaces) > KEPT_SPACES:
        _spaces.popitem(last=False)
    return space
