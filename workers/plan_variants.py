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
from collections.abc import Sequence

import redis

from btfarm.shared.payloads import Chunk, Variant
from btfarm.shared.store import keys
from btfarm.shared.variant_space import VariantSpace

KEPT_SPACES = 4  # sweeps whose variant space this process keeps (a worker serves a few at a time)

_spaces: OrderedDict[str, VariantSpace] = OrderedDict()


class SpaceVariants(Sequence[Variant]):
    """The variants of ``space`` at ``indices``, each built when first read: a chunk's
    steal list is most often run by its owner, and building a variant (its name, its
    parameters) cost about as much as the turn that claims it."""

    def __init__(self, space: VariantSpace, indices: Sequence[int]) -> None:
        self._space, self._indices = space, indices
        self._built: dict[int, Variant] = {}

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, at):
        if isinstance(at, slice):
            return [self[k] for k in range(*at.indices(len(self)))]
        if at < 0:
            at += len(self)
        variant = self._built.get(at)
        if variant is None:
            variant = self._built[at] = self._space[self._indices[at]]
        return variant

    def bases(self) -> list[str]:
        """The strategies of these variants, each once, in order (none is built)."""
        return list(dict.fromkeys(self._space.base(i) for i in self._indices))


def chunk_variants(
    r: redis.Redis, chunk: Chunk
) -> tuple[Sequence[Variant], Sequence[Variant]] | None:
    """(its own variants, those it may steal) of ``chunk``; None when the chunk names them by
    index and its sweep's plan is gone (a Redis that came back empty: nobody collects it).
    A chunk sent by index gets them as ``SpaceVariants``, built as they are read."""
    if not chunk.by_index:
        return list(chunk.variants), list(chunk.steal)
    space = _space(r, chunk.run_id)
    if space is None:
        return None
    return SpaceVariants(space, chunk.indices), SpaceVariants(space, chunk.steal_indices)


def bases_of(variants: Sequence[Variant]) -> list[str]:
    """The strategies of ``variants``, each once, in order (``SpaceVariants`` builds none)."""
    if isinstance(variants, SpaceVariants):
        return variants.bases()
    return list(dict.fromkeys(v.base for v in variants))


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
