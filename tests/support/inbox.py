"""What a sweep's inbox holds (blocks a chunk task pushed, not drained yet), as records."""

from __future__ import annotations

from typing import Any

import redis
from redis.client import NEVER_DECODE

from btfarm.shared.result_block import unpack
from btfarm.shared.store import keys


def inbox_records(r: redis.Redis, run_id: str) -> list[dict[str, Any]]:
    """Every record of every block in sweep ``run_id``'s inbox, in order, left in place."""
    blobs = r.execute_command("LRANGE", keys.walker_inbox(run_id), 0, -1, **{NEVER_DECODE: []})
    return [record for blob in blobs for record in unpack(blob).records()]
