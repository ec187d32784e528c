"""The results a sweep's orchestrator holds: the columnar blocks as they came, by variant index.

The orchestrator keeps every result it accepted: a Redis that comes back
empty gets them stored again (crash-only), and the ranking reads them.
Results arrive as compressed columnar blocks (shared/result_block.py), one
per batch of variants a worker ran; each block is written as it came to an
unnamed temporary file (``TMPDIR``; gone when the process ends, however it
ends), so what stays in memory per variant is where its row is (block and
row, 8 bytes): a million results cost 8 MB of RAM and ~40 MB of disk. A
block is decoded when one of its rows is asked for, and the last
``DECODED`` blocks read stay decoded (chunks run side by side, so reading
in index order moves between a few blocks).

The collecting thread puts blocks while the progress reader and the ranking
read them, so blocks are written and read by position (``os.pwrite`` /
``os.pread``: no shared file offset to move under another thread) and the
bookkeeping is changed under one lock.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from btfarm.shared.result_block import ResultBlock, unpack

DECODED = 8  # blocks kept decoded


class HeldRecords:
    """The last record of each variant of a sweep of ``total``, in the blocks they came in."""

    def __init__(self, total: int) -> None:
        self._block_of = np.full(total, -1, dtype=np.int32)  # each variant's block (-1: none)
        self._row_of = np.zeros(total, dtype=np.int32)  # and its row in it
        self._file = tempfile.TemporaryFile(prefix="btfarm-held-")
        self._blocks: list[tuple[int, int]] = []  # (offset, length) of each block in the file
        self._decoded: OrderedDict[int, ResultBlock] = OrderedDict()  # the last read last
        self._count = 0
        self._end = 0  # where the next block is written
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def __contains__(self, index: int) -> bool:
        return self._block_of[index] >= 0

    def put(self, block: ResultBlock, rows: np.ndarray) -> None:
        """Hold ``rows`` of ``block`` as the records of their variants, replacing any before."""
        with self._lock:
            number = len(self._blocks)
            offset = self._end
            os.pwrite(self._file.fileno(), block.blob, offset)
            self._end += len(block.blob)
            self._blocks.append((offset, len(block.blob)))
            self._keep(number, block)
            indices = block.index[rows]
            self._count += int((self._block_of[indices] < 0).sum())
            # the row before the block: a reader that sees the new block number sees its row
            self._row_of[indices] = rows
            self._block_of[indices] = number

    def locate(self, index: int) -> tuple[ResultBlock, int] | None:
        """The block holding variant ``index``'s record, and its row; None without one."""
        with self._lock:
            number = int(self._block_of[index])
            row = int(self._row_of[index])
        if number < 0:
            return None
        return self.block(number), row

    def where(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(block number, row) of each of ``indices`` (each held)."""
        with self._lock:
            return self._block_of[indices], self._row_of[indices]

    def get(self, index: int) -> dict[str, Any] | None:
        found = self.locate(index)
        return found[0].record(found[1]) if found is not None else None

    def block(self, number: int) -> ResultBlock:
        """Block ``number`` (in the order they were put), decoded."""
        with self._lock:
            block = self._decoded.get(number)
            if block is not None:
                self._decoded.move_to_end(number)
                return block
            offset, length = self._blocks[number]
        block = unpack(os.pread(self._file.fileno(), length, offset))
        with self._lock:
            self._keep(number, block)
        return block

    def _keep(self, number: int, block: ResultBlock) -> None:
        self._decoded[number] = block
        while len(self._decoded) > DECODED:
            self._decoded.popitem(last=False)

    def current(self) -> Iterator[tuple[ResultBlock, np.ndarray]]:
        """(block, its rows still current) of every block held, in the order they came: each
        block decoded once (a row replaced by a later record of its variant is left out)."""
        for number in range(len(self._blocks)):
            block = self.block(number)
            rows = np.arange(len(block))
            with self._lock:
                mine = (self._block_of[block.index] == number) & (self._row_of[block.index] == rows)
            if mine.any():
                yield block, rows[mine]

    def indices(self) -> np.ndarray:
        """The indices with a record held, ascending."""
        return np.flatnonzero(self._block_of >= 0)

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, record) of every record held, in index order."""
        for index in self.indices():
            yield int(index), self.get(int(index))  # type: ignore[misc]

    def compressed_bytes(self) -> int:
        return self._end

    def close(self) -> None:
        self._file.close()
