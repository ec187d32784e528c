"""The journal a search's Optuna study lives in: JSON lines in one Redis list under
btfarm's key prefix (``keys.search_journal``), and never a pickled snapshot.

Optuna's own ``JournalRedisBackend`` keeps its lines under a caller's prefix (none by
default: the keys ``:log_number`` and ``:log:N`` of whatever shares the Redis) and is
also a snapshot store: ``JournalStorage`` unpickles the key ``PREFIX:snapshot`` when it
opens one, so anyone who can write to the farm's Redis could plant a pickle there and
run code in the orchestrator. ``SearchJournal`` is a journal backend only (Optuna's
``BaseJournalBackend``, not its ``BaseJournalSnapshot``): ``JournalStorage`` neither asks
it for a snapshot nor saves one, and the study is replayed from its lines, each parsed
as JSON (a snapshot only speeds up the replay of a journal holding many studies; this
one holds one). A line that is not a journal record is refused, naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import redis
from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend
from redis.client import NEVER_DECODE

from btfarm.shared.errors import PersistenceError
from btfarm.shared.store import keys

READ_PAGE = 10_000  # journal lines per LRANGE when a study is read back
SHOWN_CHARS = 80  # of a refused line, in its error


class SearchJournal(BaseJournalBackend):
    """The journal lines of study ``study`` in ``r``: appended with RPUSH, read with LRANGE."""

    def __init__(self, r: redis.Redis, study: str) -> None:
        self._r = r
        self.key = keys.search_journal(study)

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        start = log_number_from
        while True:
            try:
                # bytes, whatever the client decodes: a line that is not UTF-8 is refused below
                page = self._r.execute_command(
                    "LRANGE", self.key, start, start + READ_PAGE - 1, **{NEVER_DECODE: []}
                )
            except redis.ResponseError as exc:  # WRONGTYPE: something else wrote the key
                raise self._refused(f"is not a list ({exc})") from exc
            for number, line in enumerate(page, start=start):
                yield self._record(number, line)
            if len(page) < READ_PAGE:
                return
            start += READ_PAGE

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if not logs:
            return
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(self.key, *(json.dumps(log) for log in logs))
        pipe.expire(self.key, keys.WALKER_RESULT_TTL_SECONDS)
        pipe.execute()

    def _record(self, number: int, line: bytes) -> dict[str, Any]:
        try:
            record = json.loads(line)
        except ValueError:  # UnicodeDecodeError too
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("op_code"), int):
            shown = line[:SHOWN_CHARS]
            raise self._refused(
                f"has at line {number} {shown!r}{'...' if len(line) > SHOWN_CHARS else ''}, "
                "not an Optuna journal record (a JSON object with an op_code)"
            )
        return record

    def _refused(self, what: str) -> PersistenceError:
        return PersistenceError(
            f"the search journal {self.key} in Redis {what}; btfarm reads a study only as JSON journal "
            f"lines. Delete the key (redis-cli DEL '{self.key}') and run the walker again: its search "
            "starts a new study"
        )


def open_storage(r: redis.Redis, study: str) -> JournalStorage:
    """Optuna's journal storage over ``SearchJournal(r, study)``: the study is replayed now."""
    return JournalStorage(SearchJournal(r, study))
