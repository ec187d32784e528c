"""A sweep's results as columns: every variant's status, rank, metric and trust figures as
numpy arrays in walker order, from the tally's arrays without a Python object per variant;
statistics (read from the held blocks), names and parameters are made per slice
(``to_frame``, ``row_groups``), so a million variants never become a million rows at once.

``SweepColumns.to_frame()`` gives the table ``WalkerData.to_frame()`` gives for a small
sweep (results/table.py), column for column; ``row_groups`` gives it as Arrow tables of a
fixed schema, for Parquet written a row group at a time (sweeps/export.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from btfarm.orchestrator.results.stat_columns import read_stats
from btfarm.orchestrator.results.status import NOT_RUN_STOPPED, VariantStatus
from btfarm.orchestrator.results.table import FIXED, INT_STATS, STATS, status_of
from btfarm.shared.variant_space import VariantSpace, variant_name

if TYPE_CHECKING:
    from btfarm.orchestrator.sweeps.tally import SweepTally

ROW_GROUP = 100_000  # rows per Arrow table of ``row_groups`` (a Parquet row group each)


class SweepColumns:
    """Every variant of one sweep on one symbol, in walker order, as numpy columns.

    ``status`` (VariantStatus bytes), ``ranked`` (bool), ``rank`` (1 is the best; 0 for a
    variant not ranked), ``metric_value``, ``daily_sharpe``, ``deflated_sharpe`` (NaN where
    there is none), ``order`` (the ranked variants' indices, best first) and ``reasons``
    (why a variant did not finish, by index). The statistics stay in the sweep's held
    blocks (``held``, sweeps/held_records.py) and are read per slice (``stats``): a million
    variants' 25 statistics would be 200 MB of columns. The columns are the sweep as it
    stood when they were made; of a sweep still running, a slice's statistics are read as
    it stands when the slice is asked for."""

    def __init__(
        self,
        *,
        symbol: str,
        variants: VariantSpace,
        status: np.ndarray,
        ranked: np.ndarray,
        order: np.ndarray,
        metric_value: np.ndarray,
        held: Any,
        reasons: dict[int, str],
        unranked_reason: Any,
    ) -> None:
        self.symbol, self.variants = symbol, variants
        self.status, self.ranked, self.order = status, ranked, order
        self.rank = np.zeros(len(status), dtype=np.int64)
        self.rank[order] = np.arange(1, len(order) + 1)
        self.metric_value = np.where(ranked, metric_value, np.nan)
        self.daily_sharpe = np.full(len(status), np.nan)
        self.deflated_sharpe = np.full(len(status), np.nan)
        self.held, self.reasons = held, reasons
        self._unranked_reason = unranked_reason  # SweepTally.unranked_reason
        self._schema: pa.Schema | None = None
        self._text_params: set[str] = set()  # parameter columns written as text

    def __len__(self) -> int:
        return len(self.status)

    @property
    def ranked_count(self) -> int:
        return len(self.order)

    def metric_quantiles(self, quantiles: tuple[float, ...]) -> list[float]:
        """The ranked variants' metric at each quantile (those with a value)."""
        values = self.metric_value[self.order]
        values = values[~np.isnan(values)]
        return [float(v) for v in np.quantile(values, quantiles)] if len(values) else []

    # ---- statistics, names and parameters, made per slice -----------------

    def stats(self, start: int, stop: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({statistic: values}, whether each has them) of indices ``start`` to ``stop``: a
        done variant's, read from the held blocks (stat_columns.read_stats)."""
        done = np.flatnonzero(self.status[start:stop] == VariantStatus.DONE)
        found, has = read_stats(self.held, done + start)
        stats = {name: np.zeros(stop - start, dtype=column.dtype) for name, column in found.items()}
        for name, column in found.items():
            stats[name][done] = column
        present = np.zeros(stop - start, dtype=bool)
        present[done] = has
        return stats, present

    def names(self, start: int, stop: int) -> list[str]:
        """The variant names of indices ``start`` to ``stop``, as ``VariantSpace.name`` gives them."""
        out: list[str] = []
        for at, item, span in self._items(start, stop):
            if not item["keys"]:
                out.extend([item["base"]] * len(span))
                continue
            digits = _digits(self.variants, at, span)
            texts = [
                pa.array([variant_name("", {key: v})[1:-1] for v in values]).take(d)
                for key, values, d in zip(item["keys"], item["values"], digits, strict=True)
            ]
            joined = pa.compute.binary_join_element_wise(*texts, ",")
            named = pa.compute.binary_join_element_wise(f"{item['base']}[", joined, "]", "")
            out.extend(named.to_pylist())
        return out

    def params(self, start: int, stop: int) -> tuple[list[str], dict[str, list[Any]]]:
        """(each variant's base, {parameter: values}) of indices ``start`` to ``stop``; a
        parameter a variant does not have is None there."""
        bases: list[str] = []
        columns: dict[str, list[Any]] = {}
        done = 0
        for at, item, span in self._items(start, stop):
            bases.extend([item["base"]] * len(span))
            declared = dict(item.get("declared") or {}) if item["keys"] else {}
            digits = _digits(self.variants, at, span) if item["keys"] else []
            values: dict[str, Any] = {k: [v] * len(span) for k, v in declared.items()}
            for key, choices, d in zip(item["keys"], item["values"], digits, strict=True):
                picked = np.empty(len(choices), dtype=object)
                picked[:] = choices
                values[key] = picked[d].tolist()
            for key, column in values.items():
                columns.setdefault(key, [None] * done).extend(column)
            done += len(span)
            for column in columns.values():
                column.extend([None] * (done - len(column)))
        return bases, columns

    def _items(self, start: int, stop: int) -> Iterator[tuple[int, dict[str, Any], range]]:
        """(item number, item, its indices within start..stop) of every item overlapping them."""
        for at, item in enumerate(self.variants.items):
            span = self.variants.span(at)
            low, high = max(start, span.start), min(stop, span.stop)
            if low < high:
                yield at, item, range(low, high)

    # ---- the table -------------------------------------------------------

    def to_frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows ``start`` to ``stop`` (every variant by default) of results/table.py's table."""
        stop = len(self) if stop is None else min(stop, len(self))
        if stop <= start:
            return pd.DataFrame(columns=list(FIXED) + list(STATS))
        window = slice(start, stop)
        names = self.names(start, stop)
        bases, params = self.params(start, stop)
        taken = set(FIXED) | set(STATS)
        status = self.status[window]
        done = status == VariantStatus.DONE
        ranked = self.ranked[window]
        stats_of, has = self.stats(start, stop)
        reasons: list[str | None] = [None] * (stop - start)
        states = np.where(done, "done", "missing").astype(object)
        for offset in np.flatnonzero(~done).tolist():
            why = self.reasons.get(start + offset, "no result received")
            reasons[offset] = why
            states[offset] = status_of(why)
        for offset in np.flatnonzero(done & ~ranked).tolist():
            stats = {n: stats_of[n][offset] for n in ("total_signals", "rejected_signals")}
            reasons[offset] = self._unranked_reason(
                {"stats": {k: int(v) for k, v in stats.items()} if has[offset] else None}
            )
        columns: dict[str, Any] = {
            "symbol": [self.symbol] * (stop - start),
            "strategy_name": names,
            "base": bases,
        }
        for key, values in params.items():
            columns[f"param_{key}" if key in taken else key] = pd.Series(values)
        rank = self.rank[window]
        columns.update(
            status=pd.Series(states.tolist()),
            ranked=ranked.copy(),
            rank=pd.array(np.where(ranked, rank, 0), dtype="Int64"),
            metric_value=self.metric_value[window].copy(),
            reason=pd.Series(reasons),
            daily_sharpe=np.where(ranked, self.daily_sharpe[window], np.nan),
            deflated_sharpe=np.where(ranked, self.deflated_sharpe[window], np.nan),
        )
        columns["rank"][~ranked] = pd.NA
        for name in STATS:
            stat = stats_of[name]
            if name in INT_STATS:
                column = pd.array(stat, dtype="Int64")
                column[~has] = pd.NA
                columns[name] = column
            else:
                columns[name] = np.where(has, stat, np.nan)
        for name in ("metric_value", *(n for n in STATS if n not in INT_STATS)):
            if np.isnan(columns[name]).all():  # no value at all: None, as rows of None make it
                columns[name] = pd.Series([None] * (stop - start), dtype=object)
        frame = pd.DataFrame(columns)
        frame.index = pd.RangeIndex(len(frame))
        return frame

    def schema(self) -> pa.Schema:
        """The Arrow schema of every row group: fixed types, each parameter's from all its values."""
        if self._schema is None:
            taken = set(FIXED) | set(STATS)
            fields = [pa.field(n, pa.string()) for n in ("symbol", "strategy_name", "base")]
            seen: dict[str, list[Any]] = {}
            for item in self.variants.items:
                if not item["keys"]:
                    continue
                for key, value in (item.get("declared") or {}).items():
                    seen.setdefault(key, []).append(value)
                for key, values in zip(item["keys"], item["values"], strict=True):
                    seen.setdefault(key, []).extend(values)
            for key, values in seen.items():
                try:
                    kind = pa.array(values).type
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    kind = pa.null()  # mixed kinds: as text, below
                column = f"param_{key}" if key in taken else key
                if pa.types.is_null(kind) or pa.types.is_string(kind):
                    kind = pa.string()
                    self._text_params.add(column)
                fields.append(pa.field(column, kind))
            fields += [
                pa.field("status", pa.string()),
                pa.field("ranked", pa.bool_()),
                pa.field("rank", pa.int64()),
                *(pa.field(n, pa.float64()) for n in ("metric_value",)),
                pa.field("reason", pa.string()),
                *(pa.field(n, pa.float64()) for n in ("daily_sharpe", "deflated_sharpe")),
                *(pa.field(n, pa.int64() if n in INT_STATS else pa.float64()) for n in STATS),
            ]
            self._schema = pa.schema(fields)
        return self._schema

    def repeated_columns(self) -> list[str]:
        """The columns of a few distinct values (the symbol, base, status, reason and each
        parameter), which Parquet's dictionary encoding suits; the others' values are mostly
        distinct, where trying it cost four fifths of writing a row group."""
        taken = set(FIXED) | set(STATS) | {"strategy_name"}
        params = [n for n in self.schema().names if n not in taken]
        return ["symbol", "base", *params, "status", "reason"]

    def slice_frame(self, start: int, stop: int) -> pd.DataFrame:
        """``to_frame(start, stop)`` with every column of ``schema()`` (a parameter none of
        the slice's variants has is None there), in its order: slices of one table."""
        frame = self.to_frame(start, stop)
        for field in self.schema():
            if field.name not in frame.columns:
                frame[field.name] = None
            elif field.name in self._text_params:  # mixed kinds of values: as text
                frame[field.name] = [
                    None if v is None or v != v else str(v) for v in frame[field.name]
                ]
        return frame[self.schema().names]

    def row_groups(self, size: int = ROW_GROUP) -> Iterator[pa.Table]:
        """The whole table as Arrow tables of ``size`` rows, each of ``schema()``'s columns
        (and pandas' metadata: counts read back as Int64)."""
        schema = self.schema()
        for start in range(0, len(self), size):
            frame = self.slice_frame(start, start + size)
            yield pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _digits(variants: VariantSpace, at: int, span: range) -> list[np.ndarray]:
    """Each key's value position for the indices ``span`` of item ``at`` (the last key
    varies fastest, as ``VariantSpace`` numbers them)."""
    item = variants.items[at]
    rest = np.arange(span.start, span.stop, dtype=np.int64) - variants.span(at).start
    out = []
    for values in reversed(item["values"]):
        rest, digit = np.divmod(rest, len(values))
        out.append(digit)
    out.reverse()
    return out


def sweep_columns(tally: SweepTally) -> SweepColumns:
    """The columns of ``tally``'s sweep as it stands (no block is read but those of the
    variants that failed or were stopped, for why)."""
    reasons: dict[int, str] = {}
    pending = NOT_RUN_STOPPED if tally.stopped else tally.interrupted or "no result received"
    for index in np.flatnonzero(tally.status != VariantStatus.DONE).tolist():
        record = tally.held.get(index) if tally.status[index] != VariantStatus.PENDING else None
        reasons[index] = (
            pending
            if record is None
            else f"{record['status']}: {record.get('error') or ''}".rstrip(": ")
        )
    ranked, order = ranking(tally)
    return SweepColumns(
        symbol=tally.symbol,
        variants=tally.variants,
        status=tally.status.copy(),
        ranked=ranked,
        order=order,
        metric_value=tally.metric_values,
        held=tally.held,
        reasons=reasons,
        unranked_reason=tally.unranked_reason,
    )


def ranking(tally: SweepTally) -> tuple[np.ndarray, np.ndarray]:
    """(whether each variant is ranked, the ranked ones' indices best first), from the tally's
    arrays: a done variant with at least min_trades closed signals is ranked; best first by
    the metric, a variant without one last, ties to the variant listed first
    (shared/ranking.py's order)."""
    ranked = (tally.status == VariantStatus.DONE) & (tally.signals >= tally.min_trades)
    indices = np.flatnonzero(ranked)
    values = tally.metric_values[indices]
    missing = np.isnan(values)
    return ranked, indices[np.lexsort((indices, -np.where(missing, 0.0, values), missing))]
