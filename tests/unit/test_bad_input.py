"""Bad input, one case per test: a clear error that says what and where; nothing saved is lost.

Extend this module when a new kind of input appears (issue: reliability).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from btfarm.shared.errors import CandleDataError, NotRegisteredError, ReportError, SchemaError
from btfarm.shared.exchanges.loading import load_candles
from btfarm.shared.registry import Registry, add_exchange, add_frame, add_strategy, get_strategy
from btfarm.shared.schemas import ExchangeSchema

pytestmark = pytest.mark.unit

T0 = 1_735_689_600_000


def rows(n=5, overrides=None):
    data = [
        {
            "timestamp": T0 + i * 60_000,
            "open": 100.0,
            "high": 101.0,
            "low": 99.0,
            "close": 100.5,
            "volume": 10.0,
        }
        for i in range(n)
    ]
    for (i, key), value in (overrides or {}).items():
        data[i][key] = value
    return data


def exchange_returning(data):
    return ExchangeSchema(
        exchange_name="flaky", get_candles=lambda symbol, interval, since, limit: data
    )


def load(data):
    return load_candles(exchange_returning(data), "BTCUSDT", T0, T0 + 4 * 60_000)


# ---- candles -------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        (rows()[::-1], "not sorted"),
        (rows()[:3] + rows()[2:3], "duplicate"),
        (rows(overrides={(2, "close"): math.nan}), "close"),
        (rows(overrides={(3, "low"): -1.0}), "low"),
        (rows(overrides={(1, "volume"): -5.0}), "volume"),
        (rows(overrides={(4, "high"): 98.0}), "high"),
        (rows(overrides={(2, "open"): math.inf}), "open"),
    ],
)
def test_bad_candles_name_exchange_symbol_and_first_bad_row(data, expected):
    with pytest.raises(CandleDataError) as err:
        load(data)
    message = str(err.value)
    assert "flaky" in message and "BTCUSDT" in message and expected in message
    assert "row" in message


def test_candles_missing_a_column():
    with pytest.raises(CandleDataError, match="volume"):
        load([{k: v for k, v in r.items() if k != "volume"} for r in rows()])


def test_exchange_that_raises_is_named():
    def broken(symbol, interval, since, limit):
        raise ConnectionError("exchange down")

    with pytest.raises(CandleDataError, match='exchange "down-ex".*exchange down'):
        load_candles(
            ExchangeSchema(exchange_name="down-ex", get_candles=broken), "X", T0, T0 + 60_000
        )


# ---- schemas and names -----------------------------------------------------


def test_frame_start_after_end_names_the_frame():
    with pytest.raises(SchemaError, match="backwards"):
        add_frame(
            frame_name="backwards", interval="1m", start_date="2025-02-01", end_date="2025-01-01"
        )


def test_unknown_interval_suggests_a_close_one():
    with pytest.raises(SchemaError, match="5m"):
        add_strategy(strategy_name="typo", interval="5min", get_signal=lambda s, w: None)


def test_duplicate_registration_needs_override():
    add_exchange(exchange_name="dup-ex", get_candles=lambda *a: [], override=True)
    with pytest.raises(SchemaError, match="override=True"):
        add_exchange(exchange_name="dup-ex", get_candles=lambda *a: [])


def test_missing_strategy_names_the_method_and_suggests():
    add_strategy(
        strategy_name="sma-cross-x", interval="5m", get_signal=lambda s, w: None, override=True
    )
    with pytest.raises(NotRegisteredError) as err:
        get_strategy("sma-crosx", "Backtest.run")
    assert str(err.value).startswith('strategy "sma-crosx" not found (needed by Backtest.run)')
    assert "sma-cross-x" in str(err.value)


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", "..", ""])
def test_names_with_path_separators_are_refused(name):
    with pytest.raises(SchemaError):
        Registry().add(
            "strategy",
            None,
            False,
            {"strategy_name": name, "interval": "1m", "get_signal": lambda s, w: None},
        )


def test_get_signal_not_callable():
    with pytest.raises(SchemaError, match="get_signal"):
        add_strategy(strategy_name="nocall", interval="1m", get_signal="not a function")


def test_unknown_callback_is_refused():
    with pytest.raises(SchemaError, match="on_opne"):
        add_strategy(
            strategy_name="cb",
            interval="1m",
            get_signal=lambda s, w: None,
            callbacks={"on_opne": print},
        )


# ---- reports ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["../outside.md", "/tmp/elsewhere/x.md", "backtest/../../x.md"])
def test_report_path_leaving_the_dump_folder_is_refused(path, tmp_path):
    from btfarm.orchestrator.reports.dump import dump_report

    with pytest.raises(ReportError, match="dump folder|outside"):
        dump_report("# r", "backtest", "s", path=path, dump_dir=tmp_path / "dump")
    assert not any((tmp_path / "dump").rglob("*.md")) if (tmp_path / "dump").exists() else True


def test_candle_arrays_given_directly_are_validated_too():
    from btfarm.shared.candles import to_candles

    data = {
        "timestamp": np.array([T0, T0 + 60_000]),
        "open": [1.0, 1.0],
        "high": [1.0, 1.0],
        "low": [1.0, 1.0],
        "close": [1.0, 0.0],
        "volume": [1.0, 1.0],
    }
    with pytest.raises(CandleDataError, match="close"):
        to_candles(data, "arrays", "SYM")


# ---- settings and engine config ------------------------------------------------


def test_misspelt_setting_lists_the_known_names():
    from btfarm.shared.errors import SettingsError
    from btfarm.shared.settings import Settings

    with pytest.raises(SettingsError) as err:
        Settings.from_env({"BTFARM_REDIS_ULR": "redis://x"})
    assert "BTFARM_REDIS_ULR" in str(err.value) and "BTFARM_REDIS_URL" in str(err.value)


def test_unknown_engine_config_key_is_refused():
    from btfarm.shared.engine_config import get_config, set_config

    before = get_config()
    with pytest.raises(Exception, match="CC_PERCENT_FEES"):
        set_config(CC_PERCENT_FEES=0.2)
    assert get_config() == before


# ---- signals through a run ------------------------------------------------------


def test_garbage_from_get_signal_is_reported_and_the_run_goes_on():
    from .market import Script, flat, run

    good = {
        "position": "long",
        "price_take_profit": 101.0,
        "price_stop_loss": 99.0,
        "minute_estimated_time": 5,
    }
    _, ev = run(
        flat(40), Script({3: ["not", "a", "signal"], 4: good}), start_minute=3, end_minute=20
    )
    assert "get_signal returned list" in ev["error"][0]["message"]
    assert len(ev["closed"]) == 1


# ---- report columns ------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, expected",
    [
        ({"key": "x", "label": "X", "format": "not callable"}, "format must be callable"),
        ({"key": "x", "format": lambda r: ""}, "label"),
        ({"key": "x", "label": "X", "format": lambda r: "", "colour": "red"}, "colour"),
    ],
)
def test_bad_report_column_is_named(column, expected):
    from btfarm.orchestrator.reports.columns import DEFAULT_BACKTEST_COLUMNS, resolve_columns

    with pytest.raises(ReportError) as err:
        resolve_columns([column], DEFAULT_BACKTEST_COLUMNS, "backtest")
    assert expected in str(err.value) and "column 0" in str(err.value)


# ---- persisted live state --------------------------------------------------------------


@pytest.mark.parametrize("content", [b'{"phase": "act', b"\x00\x01garbage", b"[]", b""])
def test_corrupt_live_state_names_the_file_and_is_not_overwritten(tmp_path, content):
    from btfarm.shared.errors import PersistenceError
    from btfarm.shared.store.live_state import FileLiveState

    state = FileLiveState(tmp_path, "BTCUSDT", "sma")
    state.path.parent.mkdir(parents=True)
    state.path.write_bytes(content)
    with pytest.raises(PersistenceError) as err:
        state.load()
    assert str(state.path) in str(err.value)
    with pytest.raises(PersistenceError):
        state.save({"phase": "idle"})
    assert state.path.read_bytes() == content


# ---- CLI arguments -----------------------------------------------------------------------


def cli(*args):
    from click.testing import CliRunner

    from btfarm.orchestrator.cli import main

    return CliRunner().invoke(main, list(args))


def test_cli_backtest_with_a_missing_module_says_so(tmp_path):
    result = cli(
        "backtest",
        str(tmp_path / "nope.py"),
        "--symbol",
        "X",
        "--strategy",
        "s",
        "--exchange",
        "e",
        "--frame",
        "f",
    )
    assert result.exit_code == 2 and "no such file" in result.output


def test_cli_backtest_with_an_unknown_strategy_names_it(tmp_path):
    module = tmp_path / "regs.py"
    module.write_text("from btfarm.shared.demo import register_demo\nregister_demo()\n")
    result = cli(
        "backtest",
        str(module),
        "--symbol",
        "BTCUSDT",
        "--strategy",
        "sma-crosss",
        "--exchange",
        "synthetic",
        "--frame",
        "demo-30d",
    )
    assert result.exit_code == 2
    assert 'strategy "sma-crosss" not found (needed by Backtest.run)' in result.output


def test_cli_stop_with_an_unknown_mode_lists_the_modes():
    result = cli("stop", "backtests", "BTCUSDT", "x")
    assert result.exit_code == 2 and "backtest" in result.output and "walker" in result.output


# ---- grids (a walker's sweeps) -----------------------------------------------


@pytest.mark.parametrize(
    "grid, message",
    [
        ({}, "grid is empty"),
        ({"fast": []}, "has no values"),
        ({"fast": [object()]}, "cannot be sent to workers as JSON"),
        ({"fast": [{1, 2}]}, "cannot be sent to workers as JSON"),
        ({"fast": [float("inf")]}, "cannot be sent to workers as JSON"),
        ({"fast": [5, 5]}, "repeats a value"),
    ],
)
def test_a_bad_grid_is_refused_when_the_walker_is_registered(grid, message):
    from btfarm.shared.registry import add_walker

    with pytest.raises(SchemaError, match=message):
        add_walker(
            walker_name="bad-grid",
            exchange_name="farm-market",
            frame_name="farm-2d",
            strategies=[{"strategy_name": "farm-sma", "grid": grid}],
            override=True,
        )


def _walker_of(*strategies):
    from btfarm.shared.schemas import WalkerSchema

    return WalkerSchema(
        walker_name="bad-input",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=list(strategies),
    )


def test_a_sweep_of_an_unknown_strategy_is_refused_before_submit_with_a_suggestion():
    import tests.farm_strategies  # noqa: F401  (registers farm-sma)
    from btfarm.orchestrator.sweeps.variants import expand
    from btfarm.shared.schemas import sweep

    with pytest.raises(NotRegisteredError, match=r'strategy "farm-smaa" not found.*farm-sma'):
        expand(_walker_of(sweep("farm-smaa", fast=[1])))


def test_a_sweep_of_an_undeclared_param_is_refused_with_a_suggestion():
    import tests.farm_strategies  # noqa: F401
    from btfarm.orchestrator.sweeps.variants import expand
    from btfarm.shared.schemas import sweep

    with pytest.raises(SchemaError, match=r"'slwo'.*Did you mean \"slow\""):
        expand(_walker_of(sweep("farm-sma", slwo=[20])))


def test_a_walker_without_strategies_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="strategies is empty"):
        _walker_of()


# ---- names with path separators (they become report paths and Redis keys) ---------


@pytest.mark.parametrize(
    "kind, field",
    [("walker", "walker_name"), ("frame", "frame_name"), ("exchange", "exchange_name")],
)
def test_a_walker_frame_or_exchange_name_with_a_path_separator_is_refused(kind, field):
    fields = {
        "walker": {"exchange_name": "e", "frame_name": "f", "strategies": ["s"]},
        "frame": {
            "interval": "1m",
            "start_date": "2024-01-01T00:00:00Z",
            "end_date": "2024-01-02T00:00:00Z",
        },
        "exchange": {"get_candles": lambda *a: []},
    }[kind]
    with pytest.raises(SchemaError, match=field):
        Registry().add(kind, None, False, {field: "../reports/x", **fields})


# ---- schedule files ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[entry]]\nwalker = "w"\nsymbols = ["X"]\nevery_seconds = -5\n', "positive number"),
        (
            '[[entry]]\nname = "a"\nwalker = "w"\nsymbols = ["X"]\nevery_seconds = 5\n'
            '[[entry]]\nname = "a"\nwalker = "v"\nsymbols = ["X"]\nevery_seconds = 5\n',
            "two entries are named",
        ),
        ('[[entry]]\nsymbols = ["X"]\nevery_seconds = 5\n', "needs walker"),
        ('[[entry]]\nwalker = "w"\nsymbols = ["X"]\ncron = "every day"\n', "five-field cron"),
        ("\x00garbage", "not valid TOML"),
    ],
)
def test_a_bad_schedule_file_names_the_file_and_the_fix(tmp_path, text, message):
    from btfarm.orchestrator.schedule import load_schedule
    from btfarm.shared.errors import ConfigError

    path = tmp_path / "bad-schedule.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_schedule(path)
    assert str(path) in str(err.value)


def test_a_missing_schedule_file_is_named(tmp_path):
    from btfarm.orchestrator.schedule import load_schedule
    from btfarm.shared.errors import ConfigError

    with pytest.raises(ConfigError, match="not found"):
        load_schedule(tmp_path / "nope.toml")


# ---- CLI arguments of btfarm walker / worker ---------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (("walker", "resume"), "give the sweep's run id"),
        (("walker", "resume", "abc", "--chunk-size", "3"), "cannot change on resume"),
        (("walker", "tests.farm_strategies"), "give the walker's name"),
        (
            ("walker", "tests.farm_strategies", "farm-sweep", "--chunk-size", "0"),
            "0 is not in the range",
        ),
        (("walker", "tests.farm_strategies", "farm-swep"), 'walker "farm-swep" not found'),
        (("walker", "no_such_module_anywhere", "w"), "no_such_module_anywhere"),
        (("worker", "--concurrency", "many"), "not a valid integer"),
    ],
)
def test_bad_walker_and_worker_arguments_are_refused_naming_the_fix(args, message):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_resuming_an_unknown_sweep_says_where_it_looked(redis_client, redis_server, monkeypatch):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    from btfarm.shared.settings import get_settings

    get_settings.cache_clear()
    result = cli("walker", "resume", "no-such-run")
    assert result.exit_code == 2 and "no sweep 'no-such-run'" in result.output


def test_a_corrupt_stored_sweep_plan_is_named_and_left_untouched(
    redis_client, redis_server, monkeypatch
):
    from btfarm.shared.settings import get_settings
    from btfarm.shared.store import keys

    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    key = keys.walker_run("broken")
    redis_client.hset(key, mapping={"walker_name": "w", "spec": "[{not json"})
    result = cli("walker", "resume", "broken")
    assert result.exit_code == 2 and "plan is unreadable" in result.output and key in result.output
    assert redis_client.hget(key, "spec") == "[{not json"


def test_a_plan_stored_as_an_expanded_list_by_an_older_btfarm_is_named(
    redis_client, redis_server, monkeypatch
):
    from btfarm.shared.settings import get_settings
    from btfarm.shared.store import keys

    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    redis_client.hset(keys.walker_run("older"), mapping={"walker_name": "w", "variants": "[]"})
    result = cli("walker", "resume", "older")
    assert (
        result.exit_code == 2
        and "an older btfarm" in result.output
        and "run the walker again" in result.output
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("BTFARM_TASK_MAX_RETRIES", "many", "not a valid int"),
        ("BTFARM_SWEEP_IDLE_TIMEOUT", "soon", "not a valid float"),
        ("BTFARM_STORE_OUTAGE", "30", "BTFARM_STORE_OUTAGE_SECONDS"),
    ],
)
def test_a_bad_reliability_setting_fails_at_start_naming_it(monkeypatch, name, value, message):
    from btfarm.shared.errors import SettingsError
    from btfarm.shared.settings import Settings

    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


# ---- what crosses the wire -----------------------------------------------------------


def test_a_chunk_with_an_unknown_field_is_refused_by_the_worker_schema():
    from pydantic import ValidationError

    from btfarm.shared.payloads import Chunk

    with pytest.raises(ValidationError, match="evil"):
        Chunk.model_validate(
            {
                "run_id": "r",
                "walker_name": "w",
                "symbol": "X",
                "exchange_name": "e",
                "frame_name": "f",
                "variants": [],
                "evil": "__import__('os')",
            }
        )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"variants": [{"strategy_name": "v", "base": "s"}]},
            r"variants \['v'\] of chunk 0 of sweep r have no index",
        ),
        (
            {"variants": [], "steal": [{"strategy_name": "w", "base": "s", "index": -1}]},
            r"\['w'\].*no index",
        ),
        ({"variants": [], "chunk_id": "a"}, "chunk_id"),
    ],
)
def test_a_chunk_whose_variants_or_id_cannot_be_marked_by_index_is_refused(fields, expected):
    from pydantic import ValidationError

    from btfarm.shared.payloads import Chunk

    with pytest.raises(ValidationError, match=expected):
        Chunk.model_validate(
            {
                "run_id": "r",
                "walker_name": "w",
                "symbol": "X",
                "exchange_name": "e",
                "frame_name": "f",
                **fields,
            }
        )


def test_a_result_record_with_an_unknown_status_is_refused():
    from btfarm.shared.payloads import Variant, result_record

    with pytest.raises(ValueError, match="done, failed, stopped"):
        result_record(Variant(strategy_name="s", base="s"), "finished")


# ---- trust: what would give a wrong answer quietly (issue: trust) -----------------------


@pytest.mark.parametrize("symbol", ["../secret", "/etc/passwd", "a/b", ".hidden", "x\x00y"])
def test_a_csv_folder_exchange_never_reads_outside_its_folder(tmp_path, symbol):
    from btfarm.shared.exchanges import csv_exchange

    folder = tmp_path / "candles"
    folder.mkdir()
    (tmp_path / "secret.csv").write_text("timestamp,open,high,low,close,volume\n")
    exchange = csv_exchange("folder-ex", folder=folder)
    with pytest.raises(CandleDataError, match="cannot name a file"):
        exchange.source.path_for(symbol)


def test_a_symlink_out_of_a_csv_folder_is_not_followed(tmp_path):
    from btfarm.shared.exchanges import csv_exchange

    folder = tmp_path / "candles"
    folder.mkdir()
    (tmp_path / "outside.csv").write_text("timestamp,open,high,low,close,volume\n")
    (folder / "LINK.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(CandleDataError, match="no candle file for LINK"):
        csv_exchange("folder-ex", folder=folder).source.path_for("LINK")


def test_a_string_in_a_number_column_of_a_csv_names_the_row_and_the_column(tmp_path):
    from btfarm.shared.exchanges import csv_exchange

    path = tmp_path / "X.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        f"{T0},100,101,99,100,1\n{T0 + 60_000},100,101,99,n/a-oops,1\n"
    )
    with pytest.raises(CandleDataError, match=r"row 1: column close holds 'n/a-oops'"):
        csv_exchange("csv-ex", files={"X": path}).source.all("X")


@pytest.mark.parametrize(
    "value, fix",
    [("abc", "tag=['abc']"), (5, "tag=[5]"), ({1, 2}, "tag=sorted"), (None, "tag=[None]")],
)
def test_sweep_values_that_are_not_a_list_are_refused_with_the_fix(value, fix):
    from btfarm.shared.schemas import sweep

    with pytest.raises(SchemaError, match="not a list of values") as err:
        sweep("sma", tag=value)
    assert fix in str(err.value)


def test_a_sweep_value_that_is_not_json_is_a_clear_error_not_a_pydantic_traceback():
    from btfarm.shared.schemas import sweep

    with pytest.raises(
        SchemaError, match=r"tag=\{1, 2\} \(set\) cannot be sent to workers as JSON"
    ) as err:
        sweep("sma", tag=[{1, 2}])
    assert "validation error" not in str(err.value) and "pydantic" not in str(err.value)


@pytest.mark.parametrize("value", ["flase", "maybe", "2", ""])
def test_a_boolean_setting_accepts_only_documented_spellings(value):
    from btfarm.shared.errors import SettingsError
    from btfarm.shared.settings import Settings

    with pytest.raises(SettingsError, match="BTFARM_NATIVE=.* is not a boolean; use one of"):
        Settings.from_env({"BTFARM_NATIVE": value})
    assert Settings.from_env({"BTFARM_NATIVE": "off"}).native is False


def test_a_numpy_integer_lifetime_is_an_int():
    from btfarm.shared.engine.signal_rules import check_signal
    from btfarm.shared.engine_config import EngineConfig

    sig, problems = check_signal(
        {
            "position": "long",
            "price_take_profit": np.float64(101.0),
            "price_stop_loss": np.float32(99.0),
            "minute_estimated_time": np.int64(60),
        },
        100.0,
        EngineConfig(),
    )
    assert (
        problems == []
        and sig["minute_estimated_time"] == 60
        and type(sig["minute_estimated_time"]) is int
    )
    _, problems = check_signal(
        {
            "position": "long",
            "price_take_profit": 101.0,
            "price_stop_loss": 99.0,
            "minute_estimated_time": np.bool_(True),
        },
        100.0,
        EngineConfig(),
    )
    assert problems  # a boolean is not a lifetime


def coverage_run(tmp_path, csv_text, start, end, **env):
    from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
    from btfarm.shared.exchanges import csv_exchange
    from btfarm.shared.schemas import FrameSchema, StrategySchema

    path = tmp_path / "X.csv"
    path.write_text(csv_text)
    exchange = csv_exchange("cov-ex", files={"X": path})
    frame = FrameSchema(frame_name="cov", interval="1m", start_date=start, end_date=end)
    strategy = StrategySchema(strategy_name="s", interval="1m", get_signal=lambda s, w: None)
    return BacktestRun(strategy, exchange, frame, "X", load_frame_candles(exchange, frame, "X"))


def csv_minutes(minutes):
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + m * 60_000},100,101,99,100,1" for m in minutes]
    return "\n".join(lines) + "\n"


def test_a_header_only_file_is_no_data(tmp_path):
    from btfarm.shared.errors import DataCoverageError

    with pytest.raises(
        DataCoverageError, match=r'^no data: exchange "cov-ex", symbol X.*returned no 1m candles'
    ):
        coverage_run(tmp_path, "timestamp,open,high,low,close,volume\n", "2025-01-01", "2025-01-02")


def test_a_zero_length_frame_is_no_data(tmp_path):
    from btfarm.shared.errors import DataCoverageError

    with pytest.raises(DataCoverageError, match="no data: .* is zero-length"):
        coverage_run(tmp_path, csv_minutes(range(100)), "2025-01-01T00:30Z", "2025-01-01T00:30Z")


def test_a_frame_with_no_candle_inside_is_no_data(tmp_path):
    from btfarm.shared.errors import DataCoverageError

    minutes = [*range(0, 10), *range(500, 510)]  # a hole where the frame is
    with pytest.raises(DataCoverageError, match="no data: .* no candle falls inside the frame"):
        coverage_run(tmp_path, csv_minutes(minutes), "2025-01-01T01:00Z", "2025-01-01T02:00Z")


@pytest.mark.parametrize(
    "start, end, words, returned",
    [
        (
            "2024-12-31T23:00Z",
            "2025-01-01T01:00Z",
            "starts before the data",
            "2025-01-01T00:00Z to 2025-01-01T01:01Z",
        ),
        (
            "2025-01-01T00:10Z",
            "2025-01-01T05:00Z",
            "ends after the data",
            "2025-01-01T00:00Z to 2025-01-01T01:59Z",
        ),
    ],
)
def test_a_frame_past_the_data_names_exchange_symbol_range_frame_and_fix(
    tmp_path, start, end, words, returned
):
    from btfarm.shared.errors import DataCoverageError

    with pytest.raises(DataCoverageError) as err:
        coverage_run(tmp_path, csv_minutes(range(120)), start, end)
    message = str(err.value)
    for part in (
        'exchange "cov-ex"',
        "symbol X",
        'frame "cov"',
        words,
        f"the candles it returned for that range run from {returned}",
        "or earlier" if "ends" in words else "or later",
    ):
        assert part in message, (part, message)


def test_gaps_are_counted_and_a_long_one_is_an_error_past_the_setting(tmp_path, monkeypatch):
    from btfarm.shared.errors import DataCoverageError
    from btfarm.shared.settings import get_settings

    minutes = [*range(0, 50), *range(60, 100), *range(103, 200)]  # holes of 10 and 3 minutes
    run_ = coverage_run(tmp_path, csv_minutes(minutes), "2025-01-01T00:00Z", "2025-01-01T03:19Z")
    cov = run_.coverage
    assert (cov.gaps, cov.missing_minutes, cov.longest_gap_minutes) == (2, 13, 10)
    assert cov.longest_gap_after_ms == T0 + 49 * 60_000
    assert (
        "2 gaps (13 minutes missing; the longest, 10 minutes, after 2025-01-01T00:49Z)"
        in cov.describe()
    )
    monkeypatch.setenv("BTFARM_MAX_GAP_MINUTES", "5")
    get_settings.cache_clear()
    try:
        with pytest.raises(
            DataCoverageError,
            match="gap of 10 minutes after 2025-01-01T00:49Z, longer than BTFARM_MAX_GAP_MINUTES=5",
        ):
            coverage_run(tmp_path, csv_minutes(minutes), "2025-01-01T00:00Z", "2025-01-01T03:19Z")
    finally:
        get_settings.cache_clear()


def test_a_file_given_by_path_imports_its_sibling_modules(tmp_path, monkeypatch):
    import sys

    from btfarm.shared.importing import import_user_module

    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "helpers_for_trust.py").write_text("VALUE = 42\n")
    (folder / "entry_for_trust.py").write_text("from helpers_for_trust import VALUE\n")
    monkeypatch.chdir(
        tmp_path
    )  # as `btfarm worker --import strategies/entry_for_trust.py` from here
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        module = import_user_module("strategies/entry_for_trust.py")
    finally:
        sys.modules.pop("helpers_for_trust", None)
    assert module.VALUE == 42


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_orchestrator_checks_coverage_from_the_time_column_alone_as_from_the_candles(
    tmp_path, suffix
):
    import pandas as pd

    from btfarm.shared.coverage import check_coverage, check_timestamps
    from btfarm.shared.engine.backtest_run import frame_load_range, load_frame_candles
    from btfarm.shared.exchanges import csv_exchange
    from btfarm.shared.schemas import FrameSchema

    minutes = [*range(0, 50), *range(60, 100), *range(103, 200)]
    frame_df = pd.DataFrame(
        [
            {
                "timestamp": T0 + m * 60_000,
                "open": 100.0,
                "high": 101.0,
                "low": 99.0,
                "close": 100.0,
                "volume": 1.0,
            }
            for m in minutes
        ]
    )
    path = tmp_path / f"X{suffix}"
    frame_df.to_parquet(path) if suffix == ".parquet" else frame_df.to_csv(path, index=False)
    exchange = csv_exchange("cov-ex", files={"X": path})
    frame = FrameSchema(
        frame_name="cov",
        interval="1m",
        start_date="2025-01-01T00:00Z",
        end_date="2025-01-01T03:19Z",
    )
    from_times = check_timestamps(
        exchange.source.timestamps("X", *frame_load_range(frame)), "cov-ex", "X", frame
    )
    from_candles = check_coverage(load_frame_candles(exchange, frame, "X"), "cov-ex", "X", frame)
    assert from_times == from_candles and from_times.gaps == 2


def test_an_unsorted_file_is_refused_by_validation_even_on_the_time_column_path(tmp_path):
    from btfarm.shared.exchanges import csv_exchange

    path = tmp_path / "X.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        f"{T0 + 60_000},100,101,99,100,1\n{T0},100,101,99,100,1\n"
    )
    with pytest.raises(CandleDataError, match="not sorted"):
        csv_exchange("csv-ex", files={"X": path}).source.timestamps("X", T0, T0 + 120_000)


def test_parquet_candles_read_as_pandas_reads_them_row_groups_time_types_and_nulls(tmp_path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from btfarm.shared.exchanges import csv_exchange

    n = 1_000
    table = pa.table(
        {
            "timestamp": pa.array((T0 + np.arange(n) * 60_000).astype("datetime64[ms]")),
            "open": np.full(n, 100.0),
            "high": np.full(n, 101.0),
            "low": np.full(n, 99.0),
            "close": np.linspace(99.5, 100.5, n),
            "volume": np.arange(n, dtype=np.int32),
        }
    )
    path = tmp_path / "X.parquet"
    pq.write_table(table, path, row_group_size=128)  # several chunks per column
    candles = csv_exchange("pq-ex", files={"X": path}).source.all("X")
    expected = pd.read_parquet(path)
    assert candles.timestamp.tolist() == (T0 + np.arange(n) * 60_000).tolist()
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(candles, column).dtype == np.float64
        assert getattr(candles, column).tolist() == expected[column].astype(float).tolist()
    holed = table.set_column(5, "volume", pa.array([None, *range(1, n)], type=pa.float64()))
    pq.write_table(holed, path)
    with pytest.raises(CandleDataError, match="row 0 .*NaN or infinite"):
        csv_exchange("pq-ex", files={"X": path}).source.all("X")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_worker_loads_candles_and_runs_a_variant_without_importing_pandas(tmp_path, suffix):
    # pandas costs ~0.2 s of CPU to import, at each worker's start or inside a single backtest;
    # reading Parquet or CSV, the demo strategy and a variant's statistics do not need it
    import subprocess
    import textwrap

    import pandas as pd

    minutes = np.arange(3_000)
    close = 100 + np.sin(minutes / 50)
    frame = pd.DataFrame(
        {
            "timestamp": T0 + minutes * 60_000,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": 1.0,
        }
    )
    path = tmp_path / f"X{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    script = textwrap.dedent(f"""
        import sys
        from btfarm.workers import tasks
        from btfarm.shared.demo import sma_cross_signals
        from btfarm.shared.exchanges import csv_exchange
        from btfarm.shared.payloads import Chunk, Variant
        from btfarm.shared.registry import add_exchange, add_frame, add_strategy
        add_exchange(csv_exchange("pq", files={{"X": {str(path)!r}}}))
        add_frame(frame_name="f", interval="1m", start_date="2025-01-01T01:00Z", end_date="2025-01-02T23:00Z")
        add_strategy(strategy_name="sma", interval="5m", get_signals=sma_cross_signals, params={{"fast": 5}})
        v = Variant(index=0, strategy_name="sma", base="sma", params={{"fast": 5, "slow": 30}})
        chunk = Chunk(run_id="r", chunk_id="0", attempt=0, symbol="X", walker_name="w", exchange_name="pq",
                      frame_name="f", variants=[v], steal=[])
        record = tasks.run_variant(chunk, v, lambda: False, "w")
        print(record["status"], record["stats"]["total_signals"], "pandas" in sys.modules)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    status, trades, pandas_loaded = out.stdout.split()
    assert status == "done" and int(trades) > 5
    assert pandas_loaded == "False"


@pytest.mark.parametrize("times", ["iso-z", "iso-naive", "iso-offset", "ms"])
def test_csv_candles_read_as_pandas_reads_them_times_compressed_and_empty_cells(tmp_path, times):
    import gzip

    import pandas as pd

    from btfarm.shared.candles import timestamps_of
    from btfarm.shared.exchanges import csv_exchange

    n = 500
    stamps = T0 + np.arange(n) * 60_000
    text = {
        "iso-z": pd.to_datetime(stamps, unit="ms").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "iso-naive": pd.to_datetime(stamps, unit="ms").strftime("%Y-%m-%d %H:%M:%S"),
        "iso-offset": pd.to_datetime(stamps, unit="ms").strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "ms": stamps.astype(str),
    }[times]
    rng = np.random.default_rng(4)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.1, n)), 7)
    rows = [
        f"{t},{c},{c + 0.25},{c - 0.25},{c},{v}"
        for t, c, v in zip(text, close, rng.uniform(0, 9, n), strict=True)
    ]
    csv = "timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n"
    path = tmp_path / "X.csv.gz"
    path.write_bytes(gzip.compress(csv.encode()))
    candles = csv_exchange("csv-ex", files={"X": path}).source.all("X")
    expected = pd.read_csv(path)
    assert (
        candles.timestamp.tolist()
        == timestamps_of(expected["timestamp"].to_numpy()).tolist()
        == stamps.tolist()
    )
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(candles, column).tolist() == expected[column].tolist()
    holed = tmp_path / "H.csv"
    holed.write_text(
        csv.replace(rows[3], rows[3].rsplit(",", 1)[0] + ",")
    )  # row 3 without its volume
    with pytest.raises(CandleDataError, match="row 3 .*NaN or infinite"):
        csv_exchange("csv-ex", files={"X": holed}).source.all("X")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_time_column_alone_is_the_one_the_candles_take_when_a_file_has_both(tmp_path, suffix):
    import pandas as pd

    from btfarm.shared.exchanges import csv_exchange

    minutes = np.arange(100)
    frame_df = pd.DataFrame(
        {
            "timestamp_ms": T0 + 3_600_000 + minutes * 60_000,  # first, and an hour off
            "timestamp": T0 + minutes * 60_000,
            "open": 100.0,
            "high": 101.0,
            "low": 99.0,
            "close": 100.0,
            "volume": 1.0,
        }
    )
    path = tmp_path / f"X{suffix}"
    frame_df.to_parquet(path) if suffix == ".parquet" else frame_df.to_csv(path, index=False)
    source = csv_exchange("both-ex", files={"X": path}).source
    from_times = source.timestamps("X", T0, T0 + 200 * 60_000)
    assert from_times.tolist() == (T0 + minutes * 60_000).tolist()
    assert from_times.tolist() == source.all("X").timestamp.tolist()
