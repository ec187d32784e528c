"""Small integers kept per variant index in one Redis string (BITFIELD), not a hash field each.

A hash of a million variant names costs about 80 MB; one byte per variant
costs 1 MB. The chunk task's turn script (workers/turn_script.py) writes
them; these read them:

- ``keys.walker_claims``: u32 per variant, 1 + the ``chunk_id`` of the chunk
  that took it (0: nobody yet);
- ``keys.walker_executions``: u8 per variant, how many times a worker started
  it (saturating at 255).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from . import keys

CLAIM = "u32"
RUNS = "u8"
READ_BATCH = 10_000  # fields read per BITFIELD_RO


def read(r: redis.Redis, key: str, kind: str, indices: Sequence[int]) -> list[int]:
    """The ``kind`` fields of ``key`` at ``indices`` (0 where never written)."""
    out: list[int] = []
    for start in range(0, len(indices), READ_BATCH):
        args: list[str] = []
        for index in indices[start : start + READ_BATCH]:
            args += ["GET", kind, f"#{int(index)}"]
        out += [int(x) for x in r.execute_command("BITFIELD_RO", key, *args)]
    return out


def owners(r: redis.Redis, run_id: str, attempt: int, indices: Sequence[int]) -> list[str | None]:
    """The ``chunk_id`` that claimed each of ``indices`` in ``attempt``, None where none did."""
    return [
        str(n - 1) if n else None
        for n in read(r, keys.walker_claims(run_id, attempt), CLAIM, indices)
    ]


def claim_number(chunk_id: str) -> int:
    """What the turn script writes for ``chunk_id`` (a chunk's place in its sweep)."""
    return int(chunk_id) + 1


def executions(r: redis.Redis, run_id: str) -> dict[int, int]:
    """Variant index -> times a worker started it, for every variant started at least once."""
    key = keys.walker_executions(run_id)
    counts = read(r, key, RUNS, range(int(r.strlen(key))))
    return {index: n for index, n in enumerate(counts) if n}
