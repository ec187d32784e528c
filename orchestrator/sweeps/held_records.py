"""The results a sweep's orchestrator holds, compressed, by variant index.

The orchestrator keeps every result it accepted: a Redis that comes back
empty gets them stored again (crash-only), and the ranking reads them. As
dicts a result costs about 3 KB of Python objects; as received (JSON, ~1.3 KB)
it still costs a gigabyte per million. Records repeat the same keys, the same
fingerprint and near-identical statistics, so blocks of ``BLOCK`` records
compress about tenfold (shared/text_blocks.py). Compressed blocks go to an unnamed temporary
file (``TMPDIR``; gone when the process ends, however it ends), so what stays in
memory per variant is one array slot: a million results cost 4 MB of RAM
and ~150 MB of disk. A record is decoded when asked for, and the last
``DECODED`` blocks read stay decoded (chunks run side by side, so reading
in index order moves between a few blocks).
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np

from btfarm.shared.text_blocks import pack, unpack

BLOCK = 512  # records per compressed block
DECODED = 8  # blocks kept decoded


class HeldRecords:
    """The last record of each variant of a sweep of ``total``, as JSON text, compressed."""

    def __init__(self, total: int) -> None:
        # each record's place in arrival order (block * BLOCK + slot), -1 for none; int32: 2e9 records
        self._at = np.full(total, -1, dtype=np.int32)
        self._file = tempfile.TemporaryFile(prefix="btfarm-held-")
        self._blocks: list[tuple[int, int]] = []  # (offset, length) of each block in the file
        self._open: list[str] = []  # the block being filled, not compressed yet
        self._decoded: dict[int, list[str]] = {}  # block -> its records, the last read last
        self._slot_index = array("i")  # the variant index of each record put, by place
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, index: int) -> bool:
        return self._at[index] >= 0

    def put(self, index: int, raw: str) -> None:
        """Hold ``raw`` (a record's JSON) as the record of ``index``, replacing any before."""
        if self._at[index] < 0:
            self._count += 1
        self._at[index] = len(self._blocks) * BLOCK + len(self._open)
        self._slot_index.append(index)
        self._open.append(raw)
        if len(self._open) >= BLOCK:
            blob = pack(self._open)
            offset = self._file.seek(0, os.SEEK_END)
            self._file.write(blob)
            self._blocks.append((offset, len(blob)))
            self._open = []

    def raw(self, index: int) -> str | None:
        at = int(self._at[index])
        if at < 0:
            return None
        block, slot = divmod(at, BLOCK)
        if block == len(self._blocks):
            return self._open[slot]
        lines = self._decoded.pop(block, None)
        if lines is None:
            lines = self._block_lines(block)
            if len(self._decoded) >= DECODED:
                del self._decoded[next(iter(self._decoded))]
        self._decoded[block] = lines
        return lines[slot]

    def get(self, index: int) -> dict[str, Any] | None:
        raw = self.raw(index)
        return json.loads(raw) if raw is not None else None

    def stored(self) -> Iterator[tuple[int, str]]:
        """(index, JSON) of every record held, in the order they came: each block decoded
        once and let go (a read of 10,000 year results in index order kept ~20 MB of
        decoded blocks, and decoded some several times)."""
        for block in range(len(self._blocks) + 1):
            lines = self._block_lines(block) if block < len(self._blocks) else self._open
            for slot, raw in enumerate(lines):
                at = block * BLOCK + slot
                index = self._slot_index[at]
                if self._at[index] == at:  # (not replaced by a later record of the same variant)
                    yield index, raw

    def _block_lines(self, block: int) -> list[str]:
        """The records of a compressed block, read from the file and decoded."""
        offset, length = self._blocks[block]
        self._file.seek(offset)
        return unpack(self._file.read(length))

    def indices(self) -> np.ndarray:
        """The indices with a record held, ascending."""
        return np.flatnonzero(self._at >= 0)

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, record) of every record held, in index order."""
        for index in self.indices():
            yield int(index), self.get(int(index))

    def compressed_bytes(self) -> int:
        return sum(length for _, length in self._blocks)

    def close(self) -> None:
        self._file.close()
