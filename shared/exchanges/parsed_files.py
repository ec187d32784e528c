"""A candle file parsed once: its table kept as an Arrow IPC file, read back in a few ms.

Parsing is most of a CSV's cost (pyarrow: ~10 ms for the 30-day reference
file the first time in a process, ~0.1 s for a year of 1m candles), and
decoding most of a Parquet file's (~50-130 ms of CPU for a year, at every
worker's start); a user backtests the same file again and again. The kept
table is exactly what pyarrow read from the file, so the candles built from
it are the same. It is memory-mapped when read: the workers of one machine
share its pages instead of each decoding its own copy.

A kept table is used only while the file is provably the one it was read
from: its size, modification and change times (ns), inode and device, all
recorded beside the table, must match. Only a file unchanged for
``SETTLED_SECONDS`` is kept, by its change time (which, unlike its
modification time, no one can set back): file times move in clock ticks of a
few ms, so a file rewritten within one tick of its read could look unchanged
(git's "racy" files). A file that changed while it was read is not kept either. A kept
table that cannot be read is parsed again, and a folder that cannot be
written only costs the saving (logged once). ``BTFARM_PARSED_CACHE=0`` turns
it off; the tables live in ``STATE_DIR/parsed``, one per candle file, replaced
(by rename: a reader's mapping stays whole) when the file changes, at most
``MAX_BYTES`` of them (those read least recently go first), and may be
deleted at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from ..atomic_file import replaced_whole
from ..settings import get_settings

FORMAT = "2"  # bumped when what is kept changes: older tables are then parsed again (2: one batch)
SETTLED_SECONDS = 2.0  # a file modified more recently than this is parsed, not kept
MAX_BYTES = 4 * 2**30  # the folder's size at most: past it, the tables read least recently go first
IDENTITY_KEY = b"btfarm.csv_source"  # the table's metadata entry naming the file it was read from

clock = time.time_ns  # what "now" is (the tests age a file by moving it)
log = logging.getLogger("btfarm.parsed_files")
_warned: set[str] = set()


def folder() -> Path | None:
    """Where kept tables live, or None when BTFARM_PARSED_CACHE is off."""
    settings = get_settings()
    return Path(settings.state_dir).expanduser() / "parsed" if settings.parsed_cache else None


def identity(source: Path, st: os.stat_result) -> bytes:
    return (
        f"{FORMAT}|{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|"
        f"{st.st_ino}|{st.st_dev}"
    ).encode()


def kept_path(root: Path, source: Path) -> Path:
    return root / f"{hashlib.sha256(os.fsencode(source.resolve())).hexdigest()[:32]}.arrow"


def kept(source: Path) -> pa.Table | None:
    """The kept table of ``source`` when it is that file's, else None (nothing is parsed)."""
    root = folder()
    return (
        _read(kept_path(root, source), identity(source, source.stat()))
        if root is not None
        else None
    )


def parsed(source: Path, parse: Callable[[], pa.Table]) -> pa.Table:
    """``parse()``'s table of ``source``, read from the kept copy when it is that file's."""
    root = folder()
    if root is None:
        return parse()
    before = source.stat()
    wanted = identity(source, before)
    kept = kept_path(root, source)
    table = _read(kept, wanted)
    if table is not None:
        return table
    table = parse().combine_chunks()  # one chunk a column, as a kept table reads back (see _keep)
    settled = clock() - before.st_ctime_ns >= SETTLED_SECONDS * 1e9
    if settled and identity(source, source.stat()) == wanted:
        _keep(kept, table, wanted)
        _prune(root, kept)
    return table


def _read(kept: Path, wanted: bytes) -> pa.Table | None:
    import pyarrow.ipc as ipc

    try:
        with pa.memory_map(
            str(kept)
        ) as handle:  # (the table's buffers stay mapped after the close)
            reader = ipc.open_file(handle)
            if (reader.schema.metadata or {}).get(IDENTITY_KEY) != wanted:
                return None  # another version of the file, or another file hashed alike
            table = reader.read_all().replace_schema_metadata(None)
        with contextlib.suppress(OSError):  # (a read-only folder: then it keeps its old time)
            os.utime(kept)  # read now: the last to go when the folder is pruned
        return table
    except (OSError, pa.ArrowInvalid):  # absent, or not a whole table (it is parsed and kept again)
        return None


def _prune(root: Path, keep: Path) -> None:
    """Delete the tables read least recently until the folder is within MAX_BYTES (files
    that come and go, a new CSV each day, would otherwise fill it). A reader's mapping of a
    deleted table stays whole."""
    try:
        tables = sorted(
            (
                (p.stat().st_mtime_ns, p.stat().st_size, p)
                for p in root.glob("*.arrow")
                if p != keep
            ),
            key=lambda t: t[0],
        )
        total = sum(size for _, size, _ in tables) + keep.stat().st_size
        for _, size, path in tables:
            if total <= MAX_BYTES:
                break
            path.unlink(missing_ok=True)
            total -= size
    except OSError:  # another process pruning beside this one, or a table just replaced: next time
        pass


def _keep(kept: Path, table: pa.Table, wanted: bytes) -> None:
    import pyarrow.ipc as ipc

    try:
        with replaced_whole(kept) as scratch, pa.OSFile(str(scratch), "wb") as sink:
            with ipc.new_file(sink, table.schema.with_metadata({IDENTITY_KEY: wanted})) as writer:
                # one record batch (parsed() combined the chunks), so each column reads back as one
                # chunk that csv_directory views in place: kept as the reader's batches (3 for the
                # 30-day file), every read copied them into new buffers, and those first allocations
                # of pyarrow's allocator fault in its huge-page arena (~10-20 ms of CPU in a third
                # of fresh processes)
                writer.write_table(table)
    except OSError as exc:  # a read-only or full folder: the CSV is parsed each time instead
        if str(kept.parent) not in _warned:
            _warned.add(str(kept.parent))
            log.warning(
                "cannot keep parsed candle files in %s (%s); each run reads the file again "
                "(set BTFARM_PARSED_CACHE=0 to stop trying)",
                kept.parent,
                exc,
            )
