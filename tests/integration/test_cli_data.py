"""``btfarm data download`` and ``btfarm data check`` as a user runs them: real
subprocesses, real ccxt, the local fake of Binance (tests/support/fake_binance.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pandas as pd
import pytest

from btfarm.shared.exchanges.csv_directory import CsvDirectory
from btfarm.shared.schemas import to_ms, to_utc
from tests.support.celery_workers import REPO
from tests.support.fake_binance import FakeBinance
from tests.support.reference_data import SIM_CSV

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SHIFT_MS = 31 * 86_400_000  # the reference month again, from 2025-02-01: two whole months
FEBRUARY_MS = to_ms(to_utc("2025-02-01T00:00:00Z"))


@pytest.fixture
def two_months(tmp_path):
    first = pd.read_csv(SIM_CSV)
    second = first.assign(timestamp_ms=first["timestamp_ms"] + SHIFT_MS)
    path = tmp_path / "SIMUSDT.csv"
    pd.concat([first, second]).to_csv(path, index=False)
    return path


@pytest.fixture
def fake(two_months) -> Iterator[FakeBinance]:
    with FakeBinance({"SIMUSDT": two_months}) as server:
        yield server


def btfarm(*args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        cwd=REPO,
        env={**environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def download(fake: FakeBinance, tmp_path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    return btfarm(
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbol",
        "SIM/USDT",
        "--since",
        "2025-01-01",
        "--until",
        "2025-02-28",
        "--cache",
        str(tmp_path / "cache"),
        "--config",
        json.dumps(fake.ccxt_config()),
        *extra,
        **env,
    )


def test_download_stops_clearly_mid_way_then_resumes_with_only_what_is_missing(
    fake, tmp_path, two_months
):
    fake.fail_next("500", "500", after=50)  # inside February: January (46 requests) is done
    failed = download(fake, tmp_path, BTFARM_FETCH_RETRIES="2")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert (
        'failed fetch_ohlcv("SIM/USDT", "1m"' in failed.stderr
        and "BTFARM_FETCH_RETRIES" in failed.stderr
    )
    months = sorted(p.name for p in (tmp_path / "cache" / "binance" / "SIM-USDT").iterdir())
    assert months == ["2025-01.parquet"]  # February: nothing half-written

    asked_before = len(fake.asked)
    done = download(fake, tmp_path, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "binance SIM/USDT" in done.stderr and "2/2" in done.stderr  # the progress bar, by month
    assert all(
        start >= FEBRUARY_MS for start in fake.asked[asked_before:]
    )  # January read from disk
    assert "wrote" in done.stdout and "SIMUSDT.parquet" in done.stdout
    out = CsvDirectory(tmp_path / "out").load_range("SIMUSDT", 0, FEBRUARY_MS + SHIFT_MS)
    want = CsvDirectory(files={"SIMUSDT": two_months}).load_range(
        "SIMUSDT", 0, FEBRUARY_MS + 28 * 86_400_000 - 60_000
    )
    assert len(out) == len(want) and (out.close == want.close).all()


def test_check_reports_range_gaps_and_duplicates_and_fails_only_on_duplicates(fake, tmp_path):
    assert download(fake, tmp_path).returncode == 0
    cache = btfarm("data", "check", "--exchange", "binance", "--cache", str(tmp_path / "cache"))
    assert cache.returncode == 0, cache.stdout + cache.stderr
    assert (
        "binance SIM-USDT (cache): 83520 candles, 2025-01-01T00:00Z .. 2025-02-28T23:59Z"
        in cache.stdout
    )
    assert "1 gaps (1440 minutes missing" in cache.stdout  # 2025-01-31: the exchange has none

    frame = pd.read_csv(SIM_CSV)
    broken = tmp_path / "broken.csv"
    pd.concat([frame.iloc[:100], frame.iloc[99:100], frame.iloc[110:200]]).to_csv(
        broken, index=False
    )
    files = btfarm("data", "check", str(broken), str(SIM_CSV))
    assert files.returncode == 1, files.stdout + files.stderr
    assert f"{broken}: 190 candles" in files.stdout and "1 duplicated rows" in files.stdout
    assert "gap: 2025-01-01T01:40Z .. 2025-01-01T01:49Z (10 minutes)" in files.stdout
    assert (
        f"{SIM_CSV}: 43200 candles, 2025-01-01T00:00Z .. 2025-01-30T23:59Z, no gaps; 0 duplicated"
        in files.stdout
    )


def test_bad_input_is_one_clear_line(fake, tmp_path):
    unknown = btfarm(
        "data",
        "download",
        "--exchange",
        "binanse",
        "--symbol",
        "BTC/USDT",
        "--since",
        "2025-01-01",
        "--cache",
        str(tmp_path / "c"),
    )
    assert unknown.returncode == 2 and "ccxt has no exchange 'binanse'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    date = download(fake, tmp_path, "--since", "yesterday-ish")
    assert date.returncode == 2 and "is not a date" in date.stderr
    nothing = btfarm("data", "check")
    assert nothing.returncode == 2 and "btfarm data check --exchange binance" in nothing.stderr


@pytest.mark.parametrize(
    ("until", "gap"),
    [
        ("2025-01-20", None),  # January is fetched whole (and cached), but its gap is after --until
        (
            "2025-01-31T11:59Z",
            "gap: no candles 2025-01-31T00:00Z .. 2025-01-31T11:59Z (720 minutes)",
        ),
        ("2025-02-05", "gap: no candles 2025-01-31T00:00Z .. 2025-01-31T23:59Z (1440 minutes)"),
    ],
)
def test_download_reports_only_the_gaps_up_to_until(fake, tmp_path, until, gap):
    done = btfarm(
        "data",
        "download",
        "--exchange",
        "binance",
        "--symbol",
        "SIM/USDT",
        "--since",
        "2025-01-01",
        "--until",
        until,
        "--cache",
        str(tmp_path / "cache"),
        "--config",
        json.dumps(fake.ccxt_config()),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    gaps = [line.strip() for line in done.stderr.splitlines() if "gap:" in line]
    assert gaps == ([] if gap is None else [f"{gap}: kept as a gap"]), done.stderr
