"""The results a sweep's orchestrator holds, compressed, by variant index.

The orchestrator keeps every result it accepted: a Redis that comes back
empty gets them stored again (crash-only), and the ranking reads them. As
dicts a result costs about 3 KB of Python objects; as received (JSON, ~1.3 KB)
it still costs a gigabyte per million. Records repeat the same keys, the same
fingerprint and near-identical statistics, so blocks of ``BLOCK`` records
compress about tenfold with zlib; a record is decoded when asked for, and the
last ``DECODED`` blocks read stay decoded (chunks run side by side, so reading
in index order moves between a few blocks).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

BLOCK = 512  # records per compressed block
LEVEL = 1  # zlib level: fastest (the orchestrator's CPU per result is the budget)
DECODED = 8  # blocks kept decoded


class HeldRecords:
    """The last record of each variant of a sweep of ``total``, as JSON text, compressed."""

    def __init__(self, total: int) -> None:
        self._block = np.full(total, -1, dtype=np.int32)  # -1: no record held
        self._slot = np.zeros(total, dtype=np.int32)
        self._blocks: list[bytes] = []
        self._open: list[str] = []  # the block being filled, not compressed yet
        self._decoded: dict[int, list[str]] = {}  # block -> its records, the last read last
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, index: int) -> bool:
        return self._block[index] >= 0

    def put(self, index: int, raw: str) -> None:
        """Hold ``raw`` (a record's JSON) as the record of ``index``, replacing any before."""
        if self._block[index] < 0:
            self._count += 1
        self._block[index] = len(self._blocks)
        self._slot[index] = len(self._open)
        self._open.append(raw)
        if len(self._open) >= BLOCK:
            self._blocks.append(zlib.compress("\n".join(self._open).encode(), LEVEL))
            self._open = []

    def raw(self, index: int) -> str | None:
        block = int(self._block[index])
        if block < 0:
            return None
        slot = int(self._slot[index])
        if block == len(self._blocks):
            return self._open[slot]
        lines = self._decoded.pop(block, None)
        if lines is None:
            lines = zlib.decompress(self._blocks[block]).decode().split("\n")
            if len(self._decoded) >= DECODED:
                del self._decoded[next(iter(self._decoded))]
        self._decoded[block] = lines
        return lines[slot]

    def get(self, index: int) -> dict[str, Any] | None:
        raw = self.raw(index)
        return json.loads(raw) if raw is not None else None

    def indices(self) -> np.ndarray:
        """The indices with a record held, ascending."""
        return np.flatnonzero(self._block >= 0)

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, record) of every record held, in index order."""
        for index in self.indices():
            yield int(index), self.get(int(index))

    def compressed_bytes(self) -> int:
        return sum(len(b) for b in self._blocks)
