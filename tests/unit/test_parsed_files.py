"""shared/exchanges/parsed_files.py: a candle file (CSV or Parquet) read once, its table used only
while the file is the same file, never for one that changed."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

from btfarm.shared.exchanges import csv_exchange, parsed_files
from btfarm.shared.settings import get_settings

pytestmark = pytest.mark.unit

START = 1_735_689_600_000


@pytest.fixture(autouse=True)
def later(monkeypatch):
    """Files written here look settled to the cache (it keeps only files unchanged for
    SETTLED_SECONDS): its clock runs a minute ahead, except where a test says otherwise."""
    monkeypatch.setattr(parsed_files, "clock", lambda: time.time_ns() + 60 * 10**9)


def write(path: Path, closes: list[float]) -> Path:
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"{START + i * 60_000},{c},{c + 1},{c - 1},{c},10" for i, c in enumerate(closes)]
    path.write_text("\n".join(rows) + "\n")
    return path


def candles(path: Path, symbol: str = "X"):
    return csv_exchange("c", files={symbol: path}).source.all(symbol)


def kept_files() -> list[Path]:
    return sorted((Path(get_settings().state_dir) / "parsed").glob("*.arrow"))


def test_a_kept_table_gives_the_same_candles_as_parsing(tmp_path):
    path = write(tmp_path / "x.csv", [100.0 + i / 7 for i in range(500)])
    parsed = candles(path)
    assert len(kept_files()) == 1
    [kept] = kept_files()
    os.utime(kept, ns=(1, 1))
    assert parsed_files.kept(path) is not None
    assert kept.stat().st_mtime_ns > 1  # a read marks it read (the folder's bound drops the oldest)
    again = candles(path)  # a new exchange: nothing held in memory, read from the kept table
    for column in ("timestamp", "open", "high", "low", "close", "volume"):
        a, b = getattr(parsed, column), getattr(again, column)
        assert a.dtype == b.dtype and np.array_equal(a, b), column


def test_a_file_changed_after_it_was_kept_is_parsed_again_even_with_its_old_size_and_times(
    tmp_path,
):
    path = write(tmp_path / "x.csv", [300.0] * 50)
    assert candles(path).close[0] == 300.0 and len(kept_files()) == 1
    stat = path.stat()
    while (
        path.stat().st_ctime_ns == stat.st_ctime_ns
    ):  # (a settled file's next change is a later tick)
        write(path, [200.0] * 50)  # the same size
        os.utime(
            path, ns=(stat.st_atime_ns, stat.st_mtime_ns)
        )  # and its old modification time back
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert candles(path).close[0] == 200.0  # (its change time moved: no one can set that back)


def test_a_file_changed_moments_ago_is_not_kept_even_with_an_old_modification_time(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(parsed_files, "clock", time.time_ns)
    path = write(tmp_path / "x.csv", [100.0] * 50)
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert candles(path).close[0] == 100.0
    assert kept_files() == [] and parsed_files.kept(path) is None


def test_a_damaged_kept_table_is_parsed_again_and_replaced(tmp_path):
    path = write(tmp_path / "x.csv", [100.0] * 50)
    candles(path)
    [kept] = kept_files()
    kept.write_bytes(kept.read_bytes()[:100])
    assert parsed_files.kept(path) is None
    assert candles(path).close[0] == 100.0
    assert parsed_files.kept(path) is not None


def test_two_files_keep_two_tables_and_the_time_column_alone_reads_the_kept_one(tmp_path):
    a, b = write(tmp_path / "a.csv", [100.0] * 30), write(tmp_path / "b.csv", [50.0] * 40)
    assert (candles(a).close[0], candles(b).close[0]) == (100.0, 50.0)
    assert len(kept_files()) == 2
    source = csv_exchange("c", files={"A": a}).source
    assert len(source.timestamps("A", START, START + 10 * 60_000)) == 11


def test_off_it_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BTFARM_PARSED_CACHE", "0")
    get_settings.cache_clear()
    path = write(tmp_path / "x.csv", [100.0] * 50)
    assert candles(path).close[0] == 100.0
    assert not (Path(get_settings().state_dir) / "parsed").exists()


def test_a_folder_that_cannot_be_written_costs_only_the_saving(tmp_path, monkeypatch, caplog):
    state = tmp_path / "state-file"
    state.write_text("not a folder")  # so STATE_DIR/parsed cannot be made
    monkeypatch.setenv("BTFARM_STATE_DIR", str(state))
    get_settings.cache_clear()
    path = write(tmp_path / "x.csv", [100.0] * 50)
    with caplog.at_level(logging.WARNING, logger="btfarm.parsed_files"):
        assert candles(path).close[0] == 100.0
    assert (
        "cannot keep parsed candle files" in caplog.text and "BTFARM_PARSED_CACHE=0" in caplog.text
    )


def test_a_parquet_file_is_kept_too_and_a_rewritten_one_read_again(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write_parquet(path: Path, close: float) -> Path:
        n = 300
        pq.write_table(
            pa.table(
                {
                    "timestamp": START + np.arange(n) * 60_000,
                    "open": np.full(n, close),
                    "high": np.full(n, close + 1),
                    "low": np.full(n, close - 1),
                    "close": np.full(n, close),
                    "volume": np.full(n, 10.0),
                }
            ),
            path,
            row_group_size=100,
        )
        return path

    path = write_parquet(tmp_path / "x.parquet", 100.0)
    first = candles(path)
    assert len(kept_files()) == 1 and parsed_files.kept(path) is not None
    again = candles(path)
    for column in ("timestamp", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(first, column), getattr(again, column)), column
    before = path.stat().st_ctime_ns
    while path.stat().st_ctime_ns == before:  # (a later tick of the file's change time)
        write_parquet(path, 200.0)
    assert candles(path).close[0] == 200.0


def test_the_folder_keeps_within_its_bound_dropping_the_tables_read_least_recently(
    tmp_path, monkeypatch
):
    paths = [write(tmp_path / f"{name}.csv", [100.0] * 200) for name in ("a", "b", "c")]
    for path in paths[:2]:
        candles(path)
    size = kept_files()[0].stat().st_size
    a, b = (parsed_files.kept_path(Path(get_settings().state_dir) / "parsed", p) for p in paths[:2])
    os.utime(b, ns=(1, 1))  # b read long ago, a just now
    monkeypatch.setattr(parsed_files, "MAX_BYTES", 2 * size + size // 2)  # room for two tables
    candles(paths[2])  # a third table: the least recently read one goes
    assert a.exists() and not b.exists() and len(kept_files()) == 2
    assert candles(paths[1]).close[0] == 100.0  # gone from the folder, read from the file again
