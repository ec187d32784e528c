"""The reference data in examples/data is the exact file every figure was measured on."""

import hashlib

import pytest

from tests.support.reference_data import DATA_DIR, SIM_CSV, SIM_CSV_MD5

pytestmark = pytest.mark.unit


def test_reference_csv_has_its_md5():
    digest = hashlib.md5(SIM_CSV.read_bytes()).hexdigest()
    assert digest == SIM_CSV_MD5, (
        f"{SIM_CSV} has md5 {digest}, not {SIM_CSV_MD5}: the reference data was changed (an editor's "
        "line endings or a re-save?); restore it byte for byte, e.g. git checkout -- examples/data"
    )


def test_reference_readme_states_the_same_md5():
    assert SIM_CSV_MD5 in (DATA_DIR / "README.md").read_text()


def test_reference_csv_is_30_days_of_minutes():
    lines = SIM_CSV.read_text().splitlines()
    assert lines[0] == "timestamp_ms,open,high,low,close,volume"
    stamps = [int(line.split(",", 1)[0]) for line in lines[1:]]
    assert len(stamps) == 43_200
    assert (stamps[0], stamps[-1]) == (1735689600000, 1738281540000)
    assert all(b - a == 60_000 for a, b in zip(stamps, stamps[1:], strict=False))
