"""Market data through ccxt (shared/exchanges/ccxt_market.py) against a local fake of
Binance's REST API (tests/support/fake_binance.py): real ccxt, real HTTP, no mock.

The fake serves the reference data as SIMUSDT (ccxt: SIM/USDT). Each test has its
own cache folder (conftest's BTFARM_STATE_DIR) and its own server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from btfarm.orchestrator import Backtest, Live, Walker, add_exchange, add_frame, csv_exchange
from btfarm.orchestrator.state_client import reset_state
from btfarm.orchestrator.sweeps.variants import expand
from btfarm.shared import events
from btfarm.shared.candles import COLUMNS
from btfarm.shared.clock import ManualClock
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.errors import CandleDataError, ConfigError
from btfarm.shared.exchanges.ccxt_market import CcxtSource, ccxt_exchange
from btfarm.shared.exchanges.csv_directory import CsvDirectory
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.registry import get_frame, get_strategy, get_walker
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings
from btfarm.shared.stats import compute_statistics
from btfarm.workers.app import configure
from tests import ccxt_farm
from tests.support import live_replay
from tests.support.celery_workers import REPO, CeleryWorker
from tests.support.fake_binance import RETRY_AFTER_SECONDS, FakeBinance
from tests.support.live_replay import StopAt, comparable
from tests.support.processes import stop_process, wait_for
from tests.support.redis_server import RedisServer
from tests.support.reference_data import SIM_CSV

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MARKET = "SIM/USDT"
DAY_START = to_ms(to_utc("2025-01-02T00:00:00Z"))
DAY_END = to_ms(to_utc("2025-01-02T23:59:00Z"))
JANUARY = "2025-01"


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance({"SIMUSDT": SIM_CSV}) as server:
        yield server


@pytest.fixture
def source(fake, tmp_path) -> CcxtSource:
    return CcxtSource(
        "binance", fake.ccxt_config(), name="fake-binance", cache_dir=tmp_path / "candles"
    )


def reference(start_ms: int, end_ms: int):
    return CsvDirectory(files={"SIMUSDT": SIM_CSV}).load_range("SIMUSDT", start_ms, end_ms)


def assert_same_candles(got, want) -> None:
    for column in COLUMNS:
        assert np.array_equal(getattr(got, column), getattr(want, column)), column


def klines(fake: FakeBinance) -> int:
    return fake.requests["/api/v3/klines"]


def month_file(source: CcxtSource):
    return source.cache.path(MARKET, 2025, 1)


# ---- candles and the cache -----------------------------------------------------------


def test_candles_equal_the_exchange_file_and_a_second_load_asks_nothing(fake, source):
    got = source.load_range(MARKET, DAY_START, DAY_END)
    assert_same_candles(got, reference(DAY_START, DAY_END))
    assert month_file(source).exists()  # the whole month is kept, once it has closed
    asked = dict(fake.requests)
    again = CcxtSource(
        "binance", fake.ccxt_config(), cache_dir=source.cache.root
    )  # a new process, say
    assert_same_candles(
        again.load_range("SIMUSDT", DAY_START, DAY_END), got
    )  # the exchange's id works too
    assert dict(fake.requests) == asked  # no request at all: not even the market list


def test_a_backtest_through_ccxt_closes_what_a_backtest_of_the_file_closes(fake, tmp_path):
    add_exchange(ccxt_exchange("fake-binance", config=fake.ccxt_config()), override=True)
    add_exchange(csv_exchange("sim-file", files={MARKET.replace("/", ""): SIM_CSV}), override=True)
    add_frame(
        frame_name="sim-3d",
        interval="1m",
        start_date="2025-01-03T00:00:00Z",
        end_date="2025-01-05T23:59:00Z",
        override=True,
    )
    live_replay.register(ManualClock(0))  # the "sma-cross" strategy
    via_ccxt = list(Backtest.run(MARKET, "sma-cross", "fake-binance", "sim-3d"))
    from_file = list(Backtest.run("SIMUSDT", "sma-cross", "sim-file", "sim-3d"))
    assert len(via_ccxt) >= 10
    assert [comparable(c) for c in via_ccxt] == [comparable(c) for c in from_file]


def test_only_closed_candles_exist_and_an_open_month_is_never_cached(fake, tmp_path):
    now = DAY_START + 90 * MINUTE_MS + 30_000  # 01:30:30: the 01:30 candle is still forming
    src = CcxtSource(
        "binance", fake.ccxt_config(), cache_dir=tmp_path / "c", clock=ManualClock(now)
    )
    got = src.load_range(MARKET, DAY_START, DAY_END)
    assert int(got.timestamp[-1]) == DAY_START + 89 * MINUTE_MS  # 01:29, the last one closed
    assert not month_file(src).exists()
    before = klines(fake)
    src.clock.advance(60)  # one more minute closes: one more request, one more candle
    assert (
        int(src.load_range(MARKET, DAY_START, DAY_END).timestamp[-1]) == DAY_START + 90 * MINUTE_MS
    )
    assert klines(fake) == before + 1


# ---- faults at the exchange -------------------------------------------------------------


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
def test_a_transient_fault_is_retried_and_the_candles_are_whole(fake, source, fault):
    fake.fail_next(fault, after=3)
    got = source.load_range(MARKET, DAY_START, DAY_END)
    assert_same_candles(got, reference(DAY_START, DAY_END))
    assert fake.asked[3] == fake.asked[4]  # the failed page was asked again
    if fault == "429":  # not before the answer's Retry-After
        assert fake.asked_at[4] - fake.asked_at[3] >= RETRY_AFTER_SECONDS


@pytest.mark.parametrize("fault", ["gap", "duplicate"])
def test_a_page_with_a_hole_or_a_repeated_row_ends_whole(fake, source, fault):
    fake.fail_next(fault, after=5)
    got = source.load_range(MARKET, DAY_START, DAY_END)
    assert_same_candles(got, reference(DAY_START, DAY_END))
    assert source.gaps[MARKET] == [
        (to_ms(to_utc("2025-01-31T00:00:00Z")), to_ms(to_utc("2025-01-31T23:59:00Z")))
    ]


def test_two_different_candles_for_one_minute_are_refused_and_nothing_is_cached(fake, source):
    fake.fail_next("conflict", "conflict", after=2)
    with pytest.raises(CandleDataError, match="two different candles for SIM/USDT") as caught:
        source.load_range(MARKET, DAY_START, DAY_END)
    assert "nothing was cached" in str(caught.value)
    assert not month_file(source).exists() and not list(source.cache.folder(MARKET).glob("*.tmp"))


def test_an_exchange_that_keeps_failing_is_a_clear_error_and_nothing_is_cached(
    fake, source, monkeypatch
):
    monkeypatch.setenv("BTFARM_FETCH_RETRIES", "3")
    get_settings.cache_clear()
    fake.fail_next("500", "500", "500", after=4)
    with pytest.raises(CandleDataError) as caught:
        source.load_range(MARKET, DAY_START, DAY_END)
    message = str(caught.value)
    assert 'fetch_ohlcv("SIM/USDT", "1m", since=' in message and "3 times" in message
    assert "BTFARM_FETCH_RETRIES" in message
    assert not month_file(source).exists()


def test_a_real_gap_is_kept_as_a_gap_and_reported(fake, source):
    fake.frames["SIMUSDT"] = fake.frames["SIMUSDT"].drop(
        index=[DAY_START + 600 * MINUTE_MS + i * MINUTE_MS for i in range(5)]
    )
    got = source.load_range(MARKET, DAY_START, DAY_END)
    assert len(got) == 1440 - 5  # never filled in
    assert (DAY_START + 600 * MINUTE_MS, DAY_START + 604 * MINUTE_MS) in source.gaps[MARKET]


def test_an_unknown_symbol_or_exchange_says_so(fake, source):
    with pytest.raises(CandleDataError, match=r"has no market 'SIM/USDC'; did you mean SIM/USDT"):
        source.load_range("SIM/USDC", DAY_START, DAY_END)
    with pytest.raises(ConfigError, match="ccxt has no exchange 'binanse'.*binance"):
        CcxtSource("binanse").client()
    with pytest.raises(
        ConfigError, match="mercado has no 1-minute candles"
    ):  # a real ccxt exchange's
        CcxtSource("mercado").client()


# ---- live polling -------------------------------------------------------------------


@pytest.fixture
def live_clean():
    get_settings.cache_clear()
    reset_state()
    events.clear()
    yield
    events.clear()
    reset_state()


def test_live_polling_the_exchange_closes_what_a_backtest_of_the_same_candles_closes(
    fake, live_clean
):
    start, end = to_ms(to_utc("2025-01-03T00:00:00Z")), to_ms(to_utc("2025-01-04T23:59:00Z"))
    clock = StopAt(start, end + MINUTE_MS, "sma-cross", MARKET)
    live_replay.register(clock)
    add_exchange(ccxt_exchange("fake-live", config=fake.ccxt_config(), clock=clock), override=True)
    live = [
        r for r in Live.run(MARKET, "sma-cross", "fake-live", clock=clock) if r.action == "closed"
    ]
    polled = klines(fake)

    add_exchange(csv_exchange("sim-file", files={"SIMUSDT": SIM_CSV}), override=True)
    add_frame(frame_name="sim-2d", interval="1m", start_date=start, end_date=end, override=True)
    backtest = list(Backtest.run("SIMUSDT", "sma-cross", "sim-file", "sim-2d"))
    inside = [
        c for c in backtest if c.close_timestamp <= end
    ]  # a backtest expires its last at the end
    assert len(inside) >= 15
    assert [comparable(c) for c in live[: len(inside)]] == [comparable(c) for c in inside]
    ticks = (
        end + MINUTE_MS - start
    ) // MINUTE_MS  # (and a few after the stop, closing the last one)
    assert polled < 1.5 * ticks  # one request a tick (what closed since); the whole warm-up is two


# ---- a farm sharing the cache ---------------------------------------------------------------


def test_workers_of_a_farm_read_the_months_the_orchestrator_fetched(fake, tmp_path, monkeypatch):
    shared = tmp_path / "shared-candles"  # a folder every host mounts
    config = fake.ccxt_config()
    ccxt_farm.register(config)
    with RedisServer() as server:
        monkeypatch.setenv("BTFARM_REDIS_URL", server.url)
        monkeypatch.setenv("BTFARM_CANDLE_CACHE_DIR", str(shared))
        get_settings.cache_clear()
        reset_state()
        worker = CeleryWorker(
            server.url,
            tmp_path / "workers",
            BTFARM_IMPORTS="tests.ccxt_farm",
            BTFARM_CANDLE_CACHE_DIR=str(shared),
            **{ccxt_farm.CONFIG_VARIABLE: json.dumps(config)},
        )
        try:
            worker.start().wait_ready(configure())
            list(Walker.run("SIMUSDT", ccxt_farm.WALKER))
        finally:
            worker.stop()
            reset_state()
    data = Walker.get_data("SIMUSDT", ccxt_farm.WALKER)
    assert data.strategies_tested == 4 and not data.unfinished, data.unfinished
    assert (
        klines(fake) == 46
    )  # January once (45 pages and the 31st asked again), by the orchestrator
    from_file, frame = (
        csv_exchange("sim-file", files={"SIMUSDT": SIM_CSV}),
        get_frame(ccxt_farm.FRAME),
    )
    candles = load_frame_candles(from_file, frame, "SIMUSDT")
    for variant in expand(get_walker(ccxt_farm.WALKER)):  # each equals a backtest of the file
        run = BacktestRun(
            get_strategy(ccxt_farm.STRATEGY),
            from_file,
            frame,
            "SIMUSDT",
            candles,
            params=variant.params,
            strategy_name=variant.strategy_name,
        )
        want = compute_statistics(run.run()).model_dump(mode="json")
        got = {s.strategy_name: s.stats for s in data.strategies}[variant.strategy_name]
        assert got.model_dump(mode="json") == want, variant.strategy_name


def test_btfarm_live_on_an_accelerated_clock_polls_the_exchange_and_closes_what_a_backtest_closes(
    fake, tmp_path
):
    start = "2025-01-03T00:00:00Z"
    spec = f"accelerated:start={start},speed=600,anchor={time.time():.6f}"  # a tick every 100 ms
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")},
        "PYTHONPATH": str(REPO),
        ccxt_farm.CONFIG_VARIABLE: json.dumps(fake.ccxt_config()),
        ccxt_farm.CLOCK_VARIABLE: spec,
        "BTFARM_STATE_DIR": str(tmp_path / "state"),
        "BTFARM_DUMP_DIR": str(tmp_path / "dump"),
    }
    log = tmp_path / "state" / "live" / "SIM%2FUSDT" / f"{ccxt_farm.BRIEF}.events.jsonl"

    def closes() -> list[dict]:
        lines = (
            log.read_text().split("\n")[:-1] if log.exists() else []
        )  # the last may be half-written
        return [e for e in map(json.loads, lines) if e["action"] == "closed"]

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "live",
            "tests.ccxt_farm",
            "--symbol",
            MARKET,
            "--strategy",
            ccxt_farm.BRIEF,
            "--exchange",
            ccxt_farm.EXCHANGE,
            "--clock",
            spec,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "err.txt", "w"),
    )
    try:
        wait_for(
            lambda: len(closes()) >= 4 or process.poll() is not None, 60, "four closed signals"
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "err.txt").read_text()
    finally:
        stop_process(process)
    live = closes()
    warm_up = to_ms(to_utc(start)) - 1440 * MINUTE_MS
    assert (
        len(fake.asked) > 10 and min(fake.asked) >= warm_up
    )  # polled: the open month never fetched whole
    assert not list((tmp_path / "state" / "candles").rglob("*.parquet"))  # nor cached

    # At 600x a few real ms of scheduling are clock seconds, so the process may call the strategy a
    # minute later than a backtest would (the in-process test above is exact, on a manual clock);
    # each signal it took must still end as a backtest of the file from that minute ends it.
    add_exchange(csv_exchange("sim-file", files={"SIMUSDT": SIM_CSV}), override=True)

    def key(price_open, reason, at, pnl) -> tuple:
        return round(price_open, 9), reason, at, round(pnl, 9)

    for event in live:
        add_frame(
            frame_name="sim-live",
            interval="1m",
            start_date=event["signal"]["scheduled_at"],
            end_date=event["close_timestamp"] + 10 * MINUTE_MS,
            override=True,
        )  # its own close
        first = list(Backtest.run("SIMUSDT", ccxt_farm.BRIEF, "sim-file", "sim-live"))[0]
        assert key(
            event["signal"]["price_open"],
            event["close_reason"],
            event["close_timestamp"],
            event["pnl"]["pnl_percentage"],
        ) == key(
            first.signal.price_open,
            first.close_reason,
            first.close_timestamp,
            first.pnl.pnl_percentage,
        )
