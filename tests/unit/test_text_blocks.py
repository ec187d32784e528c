"""shared/text_blocks.py: blocks of lines compressed with zstd; zlib blocks written before still read."""

from __future__ import annotations

import json
import zlib

import pytest

from btfarm.shared.text_blocks import MAGIC, pack, unpack

pytestmark = pytest.mark.unit

LINES = [json.dumps({"index": i, "note": "é ünïcode", "pnl": [i / 7] * 20}) for i in range(300)]


def test_lines_come_back_as_they_went_smaller():
    blob = pack(LINES)
    assert blob.startswith(MAGIC) and len(blob) < len("\n".join(LINES).encode()) / 3
    assert unpack(blob) == LINES
    assert unpack(pack([""])) == [""] and unpack(pack(["one"])) == ["one"]


def test_a_block_zlib_wrote_before_still_reads():
    old = zlib.compress("\n".join(LINES).encode(), 1)
    assert not old.startswith(MAGIC)
    assert unpack(old) == LINES
