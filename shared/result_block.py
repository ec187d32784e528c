"""A batch of variant results as one columnar block: one array per statistic, compressed once.

A chunk task sends the results of the variants it ran together as one block;
Redis stores the block as it came, and the orchestrator reads the columns
it counts with (index, status, seconds, any statistic, the PnL per day) as
numpy arrays, with no JSON decoded and no Python object built per result.
What is read rarely (names, parameters, fingerprints, errors, rejections,
the worker, the lane) stays one JSON text per block, parsed only when a
record is asked for.

A result record (payloads.result_record) packs and comes back exactly
(``unpack(pack(records)).records() == records``): a value the columns cannot
hold exactly (statistics other than ``BacktestStatistics``' fields and
types, a NaN, an earlier form of the PnL per day) travels in that row's JSON
instead. ``pack`` refuses a record without an index, an unknown status and
a variant twice.

The block: ``MAGIC``, the length of the uncompressed body (8 bytes,
little-endian) and the body compressed with zstd (level 1). The body: the
header's length (4 bytes, little-endian), the header (JSON: rows, and each
column's name, dtype and byte length, in order), the columns' bytes, the
rows' names (a JSON list), then the rest of the rows (a JSON list, one object
per row). A block that does not start
with ``MAGIC`` is an earlier JSON-lines block (text_blocks.py), read alike.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from . import text_blocks
from .daily_pnl import AT_DTYPE, PNL_DTYPE, Daily, compact
from .stats import BacktestStatistics

MAGIC = b"BRB\x01"
STATUS_CODES = {"done": 1, "failed": 2, "stopped": 3}  # a row's status byte (0: none)
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
RECORD_KEYS = (
    "index",
    "strategy_name",
    "base",
    "params",
    "status",
    "stats",
    "fingerprint",
    "error",
    "worker",
    "seconds",
    "rejections",
    "daily",
    "lane",
)  # payloads.result_record's order
STATS = tuple(BacktestStatistics.model_fields)
INT_STATS = frozenset(n for n, f in BacktestStatistics.model_fields.items() if f.annotation is int)

# How a row holds a field: ABSENT (the record has no such key), NONE (its value is None),
# COLUMN (in the columns), ROW_JSON (in the row's JSON: the columns could not hold it exactly);
# the PnL per day in the columns is SPARSE (with its day numbers) or DENSE (every day, no "at").
ABSENT, NONE, COLUMN, ROW_JSON, DENSE = 0, 1, 2, 3, 4
SPARSE = COLUMN
NAN = float("nan")


class BlockError(ValueError):
    """A block that cannot be packed or read (a protocol fault of a worker or of the store)."""


@lru_cache(maxsize=1)
def _codec():
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=1)


def pack(records: Sequence[Mapping[str, Any]]) -> bytes:
    """``records`` (result records, each variant once) as one block."""
    n = len(records)
    index = np.empty(n, dtype="<i8")
    status = np.empty(n, dtype="u1")
    seconds = np.full(n, np.nan, dtype="<f8")
    seconds_kind = np.zeros(n, dtype="u1")
    stats_kind = np.zeros(n, dtype="u1")
    stat_lists: list[list[Any]] = [[] for _ in STATS]  # a row without columnar statistics adds 0
    daily_kind = np.zeros(n, dtype="u1")
    daily_days = np.zeros(n, dtype="<i4")
    daily_count = np.zeros(n, dtype="<i4")
    at_parts: list[bytes] = []
    pnl_parts: list[bytes] = []
    rows_json: list[dict[str, Any]] = []
    names: list[str | None] = []  # each row's strategy_name (None: in its JSON, or none)
    seen: set[int] = set()
    for row, record in enumerate(records):
        at = record.get("index")
        if isinstance(at, np.integer):
            at = int(at)
        if type(at) is not int or at < 0:
            raise BlockError(f"result record {row} of a block has no variant index (index={at!r})")
        if at in seen:
            raise BlockError(f"variant {at} is twice in one block of results")
        seen.add(at)
        code = STATUS_CODES.get(record.get("status"))  # type: ignore[arg-type]
        if code is None:
            raise BlockError(
                f"result record of variant {at} has status {record.get('status')!r}, not one of "
                f"{', '.join(STATUS_CODES)}"
            )
        index[row], status[row] = at, code
        cold = {
            k: v
            for k, v in record.items()
            if k not in ("index", "status", "seconds", "stats", "daily")
        }
        name = cold.get("strategy_name")
        if type(name) is str:
            del cold["strategy_name"]
            names.append(name)
        else:
            names.append(None)
        if "seconds" in record:
            value = record["seconds"]
            if type(value) is float and not math.isnan(value):
                seconds[row], seconds_kind[row] = value, COLUMN
            else:
                cold["seconds"], seconds_kind[row] = value, ROW_JSON
        if "stats" in record:
            stats = record["stats"]
            if stats is None:
                stats_kind[row] = NONE
            elif _columnar_stats(stats):
                stats_kind[row] = COLUMN
                for values, name in zip(stat_lists, STATS, strict=True):
                    value = stats[name]
                    values.append(NAN if value is None else value)
            else:
                cold["stats"], stats_kind[row] = stats, ROW_JSON
        if stats_kind[row] != COLUMN:
            for values in stat_lists:
                values.append(0)
        if "daily" in record:
            daily = record["daily"]
            arrays = _columnar_daily(daily)
            if daily is None:
                daily_kind[row] = NONE
            elif arrays is None:
                cold["daily"], daily_kind[row] = daily, ROW_JSON
            else:
                days, at_bytes, pnl_bytes = arrays
                daily_kind[row] = SPARSE if "at" in daily else DENSE
                daily_days[row] = days
                daily_count[row] = len(pnl_bytes) // PNL_DTYPE.itemsize
                if at_bytes:
                    at_parts.append(at_bytes)
                pnl_parts.append(pnl_bytes)
        rows_json.append(cold)
    columns = [
        ("index", index),
        ("status", status),
        ("seconds", seconds),
        ("seconds_kind", seconds_kind),
        ("stats_kind", stats_kind),
        *(
            (f"stat:{n}", np.array(v, dtype="<i8" if n in INT_STATS else "<f8"))
            for n, v in zip(STATS, stat_lists, strict=True)
        ),
        ("daily_kind", daily_kind),
        ("daily_days", daily_days),
        ("daily_count", daily_count),
    ]
    blobs = [array.tobytes() for _, array in columns] + [b"".join(at_parts), b"".join(pnl_parts)]
    names_json = json.dumps(names, separators=(",", ":")).encode()
    header = json.dumps(
        {
            "rows": n,
            "columns": [
                [name, array.dtype.str, len(blob)]
                for (name, array), blob in zip(columns, blobs, strict=False)
            ],
            "daily_at": len(blobs[-2]),
            "daily_pnl": len(blobs[-1]),
            "names": len(names_json),
        },
        separators=(",", ":"),
    ).encode()
    body = b"".join(
        [
            len(header).to_bytes(4, "little"),
            header,
            *blobs,
            names_json,
            json.dumps(rows_json, separators=(",", ":")).encode(),
        ]
    )
    return MAGIC + len(body).to_bytes(8, "little") + _codec().compress(body, asbytes=True)


def _columnar_stats(stats: Any) -> bool:
    """Whether ``stats`` fits the columns exactly: BacktestStatistics' fields, ints as ints,
    floats as floats (not NaN) or None."""
    if type(stats) is not dict or len(stats) != len(STATS):
        return False
    for name in STATS:
        if name not in stats:
            return False
        value = stats[name]
        if name in INT_STATS:
            if type(value) is not int or not -(2**63) <= value < 2**63:
                return False
        elif value is not None and (type(value) is not float or math.isnan(value)):
            return False
    return True


def _columnar_daily(daily: Any) -> tuple[int, bytes, bytes] | None:
    """(days, day-number bytes, PnL bytes) of a PnL-per-day record in its text form
    (daily_pnl.py) whose text is what re-encoding them gives back; None otherwise."""
    if type(daily) is not dict or set(daily) not in ({"days", "at", "pnl"}, {"days", "pnl"}):
        return None
    days, pnl_text, at_text = daily["days"], daily["pnl"], daily.get("at", "")
    if (
        type(days) is not int
        or not 0 <= days < 2**31
        or type(pnl_text) is not str
        or type(at_text) is not str
    ):
        return None
    try:
        pnl_bytes, at_bytes = (
            base64.b64decode(pnl_text, validate=True),
            base64.b64decode(at_text, validate=True),
        )
    except ValueError:
        return None
    if (
        len(pnl_bytes) % PNL_DTYPE.itemsize
        or len(at_bytes) % AT_DTYPE.itemsize
        or (
            "at" in daily
            and len(at_bytes) // AT_DTYPE.itemsize != len(pnl_bytes) // PNL_DTYPE.itemsize
        )
        or ("at" not in daily and len(pnl_bytes) // PNL_DTYPE.itemsize != days)
        or _b64(pnl_bytes) != pnl_text
        or _b64(at_bytes) != at_text
    ):
        return None
    return days, at_bytes, pnl_bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unpack(blob: bytes) -> ResultBlock:
    """The block ``pack`` wrote (or an earlier JSON-lines block)."""
    if blob[: len(MAGIC)] != MAGIC:
        return unpack(pack([json.loads(line) for line in text_blocks.unpack(blob)]))
    size = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 8], "little")
    body = _codec().decompress(
        memoryview(blob)[len(MAGIC) + 8 :], decompressed_size=size, asbytes=True
    )
    return ResultBlock(blob, body)


class ResultBlock:
    """One block's columns (numpy views of its body) and, parsed when first asked for, its rows' JSON."""

    def __init__(self, blob: bytes, body: bytes) -> None:
        self.blob = blob
        length = int.from_bytes(body[:4], "little")
        header = json.loads(body[4 : 4 + length])
        self.rows: int = header["rows"]
        offset = 4 + length
        columns: dict[str, np.ndarray] = {}
        for name, dtype, nbytes in header["columns"]:
            columns[name] = np.frombuffer(
                body, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=offset
            )
            offset += nbytes
        self._columns = columns
        self._at = np.frombuffer(
            body, dtype=AT_DTYPE, count=header["daily_at"] // AT_DTYPE.itemsize, offset=offset
        )
        offset += header["daily_at"]
        self._pnl = np.frombuffer(
            body, dtype=PNL_DTYPE, count=header["daily_pnl"] // PNL_DTYPE.itemsize, offset=offset
        )
        self._names_at = offset + header["daily_pnl"]
        self._json_at = self._names_at + header["names"]
        self._body = body
        self.index: np.ndarray = columns["index"]  # int64: each row's variant
        self.status: np.ndarray = columns["status"]  # uint8: STATUS_CODES
        self.seconds: np.ndarray = columns[
            "seconds"
        ]  # float64, NaN where the row has none in the columns
        # parsed or built when first asked for (plain attributes: functools.cached_property
        # takes a lock on every read, and a progress item per result reads them)
        self._json_rows: list[dict[str, Any]] | None = None
        self._names: list[str | None] | None = None
        self._stat_values: list[tuple[Any, ...]] | None = None
        self._starts: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.rows

    @property
    def _rows_json(self) -> list[dict[str, Any]]:
        if self._json_rows is None:
            self._json_rows = json.loads(self._body[self._json_at :])
        return self._json_rows

    def names(self) -> list[str | None]:
        """Every row's strategy_name as it was packed (None where the row holds it in its
        JSON, or has none): one list parsed once, not the rest of the rows."""
        if self._names is None:
            self._names = json.loads(self._body[self._names_at : self._json_at])
        return self._names

    def name(self, row: int) -> str | None:
        """Row ``row``'s strategy_name."""
        name = self.names()[row]
        return name if name is not None else self._rows_json[row].get("strategy_name")

    @property
    def _daily_start(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each row's PnL values (and day numbers) start in the block's arrays."""
        if self._starts is None:
            count = self._columns["daily_count"]
            kind = self._columns["daily_kind"]
            pnl_start = np.concatenate([[0], np.cumsum(count, dtype=np.int64)])
            at_count = np.where(kind == SPARSE, count, 0)
            at_start = np.concatenate([[0], np.cumsum(at_count, dtype=np.int64)])
            self._starts = pnl_start, at_start
        return self._starts

    def stat(self, name: str) -> np.ndarray:
        """Statistic ``name`` of every row as float64: NaN where a row has none (no statistics,
        no such field, None, or a value that is not a finite number: what ranking.metric_value
        reads as None)."""
        kind = self._columns["stats_kind"]
        column = self._columns.get(f"stat:{name}")
        values = column.astype(np.float64) if column is not None else np.full(self.rows, np.nan)
        values[kind != COLUMN] = np.nan
        for row in np.flatnonzero(kind == ROW_JSON):
            value = self._rows_json[row]["stats"].get(name)
            ok = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
            values[row] = float(value) if ok else np.nan
        values[~np.isfinite(values)] = np.nan
        return values

    def has_stats(self) -> np.ndarray:
        """Whether each row carries statistics (a dict)."""
        kind = self._columns["stats_kind"]
        return (kind == COLUMN) | (kind == ROW_JSON)

    def columnar_stats(self, row: int) -> bool:
        """Whether row ``row``'s statistics are in the columns (BacktestStatistics' own fields and types)."""
        return bool(self._columns["stats_kind"][row] == COLUMN)

    @property
    def _stat_rows(self) -> list[tuple[Any, ...]]:
        """Every row's statistics in ``STATS`` order as Python values (None for NaN), built for
        the whole block at once, a column at a time: a progress item per result reads them."""
        if self._stat_values is None:
            columns = []
            for name in STATS:
                column = self._columns[f"stat:{name}"]
                values = column.tolist()
                if name not in INT_STATS and np.isnan(column).any():
                    values = [None if value != value else value for value in values]
                columns.append(values)
            self._stat_values = list(zip(*columns, strict=True)) if self.rows else []
        return self._stat_values

    def stats(self, row: int) -> dict[str, Any] | None:
        """Row ``row``'s statistics as its record held them (None for none)."""
        kind = self._columns["stats_kind"][row]
        if kind == COLUMN:
            return dict(zip(STATS, self._stat_rows[row], strict=True))
        if kind == ROW_JSON:
            return self._rows_json[row]["stats"]
        return None

    def stats_of(self, rows: Sequence[int]) -> list[tuple[dict[str, Any] | None, bool]]:
        """(statistics, whether they came from the columns) of each of ``rows``, as ``stats``
        and ``columnar_stats`` give them one row at a time (each dict a new one)."""
        kinds = self._columns["stats_kind"].tolist()
        values = self._stat_rows
        out: list[tuple[dict[str, Any] | None, bool]] = []
        for row in rows:
            kind = kinds[row]
            if kind == COLUMN:
                out.append((dict(zip(STATS, values[row], strict=True)), True))
            else:
                out.append((self._rows_json[row]["stats"] if kind == ROW_JSON else None, False))
        return out

    def daily(self, row: int) -> Daily | None:
        """Row ``row``'s PnL per day as arrays (daily_pnl.Daily), None without one."""
        kind = self._columns["daily_kind"][row]
        if kind in (SPARSE, DENSE):
            pnl_start, at_start = self._daily_start
            days = int(self._columns["daily_days"][row])
            pnl = self._pnl[pnl_start[row] : pnl_start[row + 1]].astype(np.float64)
            if kind == SPARSE:
                at = self._at[at_start[row] : at_start[row + 1]].astype(np.int32)
            else:
                at = np.arange(days, dtype=np.int32)
            return Daily(days, at, pnl)
        if kind == ROW_JSON:
            return compact(self._rows_json[row]["daily"])
        return None

    def error(self, row: int) -> str | None:
        return self._rows_json[row].get("error")

    def record(self, row: int) -> dict[str, Any]:
        """Row ``row`` as the record that was packed."""
        cold = self._rows_json[row]
        columns = self._columns
        out: dict[str, Any] = {
            "index": int(self.index[row]),
            "status": STATUS_NAMES[int(self.status[row])],
        }
        name = self.names()[row]
        if name is not None:
            out["strategy_name"] = name
        if columns["seconds_kind"][row] == COLUMN:
            out["seconds"] = float(self.seconds[row])
        stats_kind = columns["stats_kind"][row]
        if stats_kind == NONE:
            out["stats"] = None
        elif stats_kind == COLUMN:
            out["stats"] = self.stats(row)
        daily_kind = columns["daily_kind"][row]
        if daily_kind == NONE:
            out["daily"] = None
        elif daily_kind in (SPARSE, DENSE):
            pnl_start, at_start = self._daily_start
            daily: dict[str, Any] = {"days": int(columns["daily_days"][row])}
            if daily_kind == SPARSE:
                daily["at"] = _b64(self._at[at_start[row] : at_start[row + 1]].tobytes())
            daily["pnl"] = _b64(self._pnl[pnl_start[row] : pnl_start[row + 1]].tobytes())
            out["daily"] = daily
        out.update(cold)
        ordered = {key: out[key] for key in RECORD_KEYS if key in out}
        ordered.update((key, value) for key, value in out.items() if key not in ordered)
        return ordered

    def records(self, rows: Sequence[int] | np.ndarray | None = None) -> list[dict[str, Any]]:
        """The records of ``rows`` (every row by default), in that order."""
        return [self.record(int(row)) for row in (range(self.rows) if rows is None else rows)]

    def take(self, rows: Sequence[int] | np.ndarray) -> bytes:
        """A block of ``rows`` only (this block's own bytes when that is every row, in order)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == self.rows and (rows == np.arange(self.rows)).all():
            return self.blob
        return pack(self.records(rows))


def pack_records(records: Sequence[Mapping[str, Any]]) -> ResultBlock:
    """``records`` packed and read back as a block (the orchestrator's own failure records)."""
    return unpack(pack(records))
