"""A kept candle table is one record batch: a fresh process views its columns in place, with no
copy and no allocation from pyarrow's allocator (whose first one faults in a huge-page arena: ~10-20
ms of CPU in a third of single backtests, issue 33)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from btfarm.shared.exchanges import csv_exchange, parsed_files
from btfarm.shared.settings import get_settings

pytestmark = pytest.mark.unit

START = 1_735_689_600_000
ROWS = 60_000  # ~3 MB of CSV: pyarrow's reader returns it in several batches (1 MB blocks)


@pytest.fixture(autouse=True)
def later(monkeypatch):
    """Files written here look settled to the cache (see test_parsed_files.py)."""
    monkeypatch.setattr(parsed_files, "clock", lambda: time.time_ns() + 60 * 10**9)


def write(path: Path) -> Path:
    closes = 100.0 + np.arange(ROWS) / 7
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"{START + i * 60_000},{c},{c + 1},{c - 1},{c},10" for i, c in enumerate(closes)]
    path.write_text("\n".join(rows) + "\n")
    return path


def candles(path: Path):
    return csv_exchange("c", files={"X": path}).source.all("X")


def test_a_file_read_in_several_batches_is_kept_as_one(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv")
    import pyarrow.csv as pa_csv

    assert pa_csv.read_csv(path).column(0).num_chunks > 1  # the premise: the reader's batches
    parsed = candles(path)
    [kept] = sorted((Path(get_settings().state_dir) / "parsed").glob("*.arrow"))
    with pa.memory_map(str(kept)) as handle:
        assert ipc.open_file(handle).num_record_batches == 1
    pool = pa.default_memory_pool()
    allocations = pool.num_allocations()
    again = candles(path)  # a new exchange: read from the kept table
    assert pool.num_allocations() == allocations  # viewed in place, nothing combined
    for column in ("timestamp", "open", "high", "low", "close", "volume"):
        a, b = getattr(parsed, column), getattr(again, column)
        assert a.dtype == b.dtype and np.array_equal(a, b), column


def test_a_table_kept_by_the_previous_format_is_parsed_again(tmp_path: Path) -> None:
    # kept as the reader's batches under format "1": not this format's table, so it is parsed
    # again and replaced by a one-batch table
    path = write(tmp_path / "x.csv")
    import pyarrow.csv as pa_csv

    table = pa_csv.read_csv(path)
    root = Path(get_settings().state_dir) / "parsed"
    root.mkdir(parents=True)
    kept = parsed_files.kept_path(root, path)
    old = parsed_files.identity(path, path.stat()).replace(b"2|", b"1|", 1)
    assert old.startswith(b"1|")
    with pa.OSFile(str(kept), "wb") as sink:
        with ipc.new_file(sink, table.schema.with_metadata({parsed_files.IDENTITY_KEY: old})) as w:
            w.write_table(table)
    assert parsed_files.kept(path) is None
    candles(path)
    with pa.memory_map(str(kept)) as handle:
        assert ipc.open_file(handle).num_record_batches == 1
