"""What a sweep's workers handed in (blocks stored, and blocks in the inbox), as records."""

from __future__ import annotations

from typing import Any

import redis
from redis.client import NEVER_DECODE

from btfarm.shared.result_block import unpack
from btfarm.shared.store import keys, result_blocks


def inbox_records(r: redis.Redis, run_id: str) -> list[dict[str, Any]]:
    """Every record of every block in sweep ``run_id``'s inbox, in order, left in place."""
    blobs = r.execute_command("LRANGE", keys.walker_inbox(run_id), 0, -1, **{NEVER_DECODE: []})
    return [record for blob in blobs for record in unpack(blob).records()]


def handed_in(r: redis.Redis, run_id: str) -> list[dict[str, Any]]:
    """The records workers stored, then those in the inbox."""
    return list(result_blocks.records(r, run_id)) + inbox_records(r, run_id)
