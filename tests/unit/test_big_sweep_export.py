"""A sweep's table written a row group at a time (sweeps/export.py write_table) reads back as
the table ``to_frame()`` gives, in Parquet and in CSV."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow.parquet as pq
import pytest

from btfarm.orchestrator.results.ranked_data import columns_of
from btfarm.orchestrator.results.table import walker_frame
from btfarm.orchestrator.sweeps.export import write_table
from tests.unit.test_big_sweep_ranking import sweep


@pytest.mark.parametrize("size", [7, 40, 1000])
def test_parquet_row_groups_read_back_as_the_table(tmp_path, size):
    tally = sweep()
    columns = columns_of(tally)[0]
    path = tmp_path / "sweep.parquet"
    assert write_table(columns, path, size) == 40
    assert pq.ParquetFile(path).num_row_groups == math.ceil(40 / size)
    expected = walker_frame(tally.data())
    before = tmp_path / "whole.parquet"  # how export wrote it before: the whole frame at once
    expected.to_parquet(before, index=False)
    read_back = pd.read_parquet(before)
    if size < 40:  # in slices of one schema: a statistic none has is NaN, not None
        read_back["annualized_sharpe_ratio"] = read_back["annualized_sharpe_ratio"].astype(float)
    pd.testing.assert_frame_equal(pd.read_parquet(path), read_back, check_exact=True)


def test_csv_written_in_slices_reads_back_as_the_table(tmp_path):
    tally = sweep()
    columns = columns_of(tally)[0]
    path = tmp_path / "sweep.csv"
    assert write_table(columns, path, 9) == 40
    before = tmp_path / "whole.csv"
    walker_frame(tally.data()).to_csv(before, index=False)
    assert path.read_text().splitlines()[0] == before.read_text().splitlines()[0]
    pd.testing.assert_frame_equal(
        pd.read_csv(path), pd.read_csv(before), check_exact=False, rtol=1e-12
    )
