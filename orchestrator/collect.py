"""Collecting a sweep's variant results as workers finish them.

Workers RPUSH each variant's JSON record to the sweep's inbox list as it
ends, and ring the sweep's doorbell list at most every 50 ms; the
orchestrator BLPOPs the doorbell and drains the inbox, so results are seen
within that time (Celery's ``ResultSet`` would poll every 0.5 s) without a
wake per variant. Each record is written once to its
``walker_result`` key with SET NX (its statistics, fingerprint and status): a chunk
redelivered after a worker died may push a variant again, and the second
copy is dropped here, so no variant is ever reported twice. A "stopped"
record (the walker was stopped before the variant ran) ends the variant for
this run but is not stored: it is no result, and a resume runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from btfarm.shared.store import keys

DRAIN_BATCH = 100  # records taken per round trip once one has arrived


class Collector:
    """The results of one sweep, each accepted once, in arrival order."""

    def __init__(self, r: redis.Redis, run_id: str, expected: Iterable[str]) -> None:
        self._r = r
        self.run_id = run_id
        self._inbox = keys.walker_inbox(run_id)
        self._doorbell = keys.walker_doorbell(run_id)
        self.pending: set[str] = set(expected)
        self.duplicates = 0

    @property
    def finished(self) -> bool:
        return not self.pending

    def stored(self) -> list[dict[str, Any]]:
        """Results a previous attempt of this sweep already stored (resume), now
        no longer pending; records still in the inbox are taken first."""
        found = []
        while True:
            raw = self._r.lpop(self._inbox, DRAIN_BATCH)
            if not raw:
                break
            records = ((json.loads(x), x) for x in raw)
            found.extend(self._accept([pair for pair in records if pair[0].get("status") != "stopped"]))
        names = sorted(self.pending)
        for name, raw in zip(names, self._r.mget([keys.walker_result(self.run_id, n) for n in names]),
                             strict=True):
            if raw is not None:
                found.append(json.loads(raw))
                self.pending.discard(name)
        return found

    def wait(self, timeout_seconds: float) -> list[dict[str, Any]]:
        """New results: blocks until a worker rings or the timeout passes, then
        drains the inbox (also after a timeout: a worker that died may have
        pushed records it never rang for)."""
        self._r.blpop([self._doorbell], timeout=timeout_seconds)
        raw: list[str] = []
        while True:
            pipe = self._r.pipeline(transaction=False)
            pipe.delete(self._doorbell)  # rings before this drain are answered by it
            pipe.lpop(self._inbox, DRAIN_BATCH)
            _, batch = pipe.execute()
            raw.extend(batch or ())
            if not batch or len(batch) < DRAIN_BATCH:
                break
        return self._accept([(json.loads(x), x) for x in raw]) if raw else []

    def accept_all(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records that count, in arrival order: the first copy of each pending
        variant, stored with SET NX (the whole batch in one round trip); a copy
        already stored, or a second one, counts as a duplicate."""
        return self._accept([(record, None) for record in records])

    def _accept(self, records: list[tuple[dict[str, Any], str | None]]) -> list[dict[str, Any]]:
        """``accept_all`` of (record, its JSON as received or None): a record that came
        as JSON is stored as it came, not encoded again."""
        fresh: dict[str, tuple[dict[str, Any], str | None]] = {}
        for record, raw in records:
            name = record.get("strategy_name")
            if name not in self.pending or name in fresh:
                self.duplicates += 1
            else:
                fresh[name] = (record, raw)
        pipe = self._r.pipeline(transaction=False)
        stored = [name for name, (record, _) in fresh.items() if record.get("status") != "stopped"]
        for name in stored:
            record, raw = fresh[name]
            pipe.set(keys.walker_result(self.run_id, name), raw or json.dumps(record), nx=True,
                     ex=keys.WALKER_RESULT_TTL_SECONDS)
        written = dict(zip(stored, pipe.execute() if stored else [], strict=True))
        accepted = []
        for name, (record, _) in fresh.items():
            if written.get(name, True):  # "stopped" records are not stored (see the module docstring)
                self.pending.discard(name)
                accepted.append(record)
            else:
                self.duplicates += 1
        return accepted
