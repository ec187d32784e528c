"""Blocks of text lines (a sweep's result records, as JSON), compressed and back.

zstd at level 1 through pyarrow, already loaded wherever btfarm reads
candles: on a thousand year results (5 MB, mostly base64 PnL per day) it takes
~6 ms where zlib's fastest level took ~90 ms, of the orchestrator's CPU on
the cores the workers share, and keeps them smaller (2.9 against 3.0 MB).
A block is ``MAGIC``, its text's length (8 bytes, little-endian) and the
zstd frame. Blocks zlib wrote (before) still read: they never start with
``MAGIC`` (a zlib stream's first byte is 0x78).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache

MAGIC = b"BZS\x01"


@lru_cache(maxsize=1)
def _codec():
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=1)


def pack(lines: Sequence[str]) -> bytes:
    """``lines`` (none containing a newline) as one compressed block."""
    text = "\n".join(lines).encode()
    return MAGIC + len(text).to_bytes(8, "little") + _codec().compress(text, asbytes=True)


def unpack(blob: bytes) -> list[str]:
    """The lines of a block ``pack`` (or zlib, before) wrote."""
    if blob[: len(MAGIC)] == MAGIC:
        size = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 8], "little")
        text = _codec().decompress(
            memoryview(blob)[len(MAGIC) + 8 :], decompressed_size=size, asbytes=True
        )
    else:
        text = zlib.decompress(blob)
    return text.decode().split("\n")
