"""The reporting classes' persisted live logs: Redis lists of JSON records
(``keys.report_risk``, ``report_schedule``, ``report_heat``), so any process reads
what the process running ``Live`` saw.

A list keeps the newest ``keys.REPORT_LOG_MAX_ROWS`` records and lives
``keys.REPORT_LOG_TTL_SECONDS`` after its last write. Records are JSON only,
read back through their pydantic model; one that does not parse is skipped and
logged, never executed or unpickled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

import redis
from pydantic import BaseModel, ValidationError

from btfarm.shared.errors import TransientError
from btfarm.shared.store import keys

from ..state_client import state

log = logging.getLogger("btfarm.reporting")

Model = TypeVar("Model", bound=BaseModel)


def append(key: str, record: BaseModel, index: tuple[str, str] | None = None) -> None:
    """Add ``record`` to the log ``key`` (and ``index``: a set key and the member naming
    this log). A failed write is logged: a report must never stop a live run."""
    append_many(key, [record], index)


def append_many(
    key: str, records: Sequence[BaseModel], index: tuple[str, str] | None = None
) -> None:
    """``append`` of several records, in order, in one round trip."""
    if not records:
        return
    try:
        pipe = state().pipeline(transaction=False)
        pipe.rpush(key, *(record.model_dump_json() for record in records))
        pipe.ltrim(key, -keys.REPORT_LOG_MAX_ROWS, -1)
        pipe.expire(key, keys.REPORT_LOG_TTL_SECONDS)
        if index is not None:
            pipe.sadd(index[0], index[1])
            pipe.expire(index[0], keys.REPORT_LOG_TTL_SECONDS)
        pipe.execute()
    except (redis.RedisError, OSError, TransientError) as exc:
        log.warning("could not append to the report log %s (the live run goes on): %s", key, exc)


def read(key: str, model: type[Model]) -> list[Model]:
    """The records of the log ``key``, oldest first."""
    records = []
    for index, raw in enumerate(state().lrange(key, 0, -1)):
        try:
            records.append(model.model_validate_json(raw))
        except ValidationError as exc:
            log.warning(
                "report log %s: entry %d is not a %s record, skipped: %s",
                key,
                index,
                model.__name__,
                exc.errors()[0].get("msg", exc),
            )
    return records


def members(key: str) -> list[str]:
    """The members of the set ``key``, sorted."""
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in state().smembers(key))
