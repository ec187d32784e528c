"""shared/store/keys.py: every key is prefixed, distinct, and refuses bad parts."""

import inspect

import pytest

from btfarm.shared.store import keys

pytestmark = pytest.mark.unit

SAMPLE_ARGS = {"mode": "backtest", "attempt": 1}  # every other parameter gets its own name as value


def key_builders():
    """Every key function of the module, found by introspection so a kind
    added later is checked without editing this test."""
    return [
        fn
        for name, fn in inspect.getmembers(keys, inspect.isfunction)
        if fn.__module__ == keys.__name__ and not name.startswith(("_", "check_"))
    ]


def build(fn, **overrides):
    params = inspect.signature(fn).parameters
    return fn(**{p: overrides.get(p, SAMPLE_ARGS.get(p, p)) for p in params})


def test_the_known_kinds_are_all_there():
    names = {fn.__name__ for fn in key_builders()}
    assert {
        "stop_flag",
        "instance_status",
        "instance_index",
        "live_signal",
        "walker_run",
        "walker_results",
        "walker_collected",
        "walker_claims",
        "walker_lease",
        "walker_owner",
        "walker_executions",
        "chunk_task",
        "schedule_lock",
        "embedded_clients",
        "search_journal",
        "report_risk",
        "report_schedule",
        "report_heat",
        "report_heat_symbols",
        "report_partial",
        "report_performance",
    } <= names


@pytest.mark.parametrize("fn", key_builders(), ids=lambda fn: fn.__name__)
def test_every_key_starts_with_the_prefix(fn):
    assert build(fn).startswith("btfarm:")


@pytest.mark.parametrize("fn", key_builders(), ids=lambda fn: fn.__name__)
def test_every_key_function_documents_type_writer_reader_and_ttl(fn):
    doc = fn.__doc__ or ""
    for word in ("Writer:", "Reader:", "TTL:"):
        assert word in doc, f"{fn.__name__} docstring lacks {word}"


def test_kinds_do_not_collide():
    built = [build(fn) for fn in key_builders()]
    assert len(set(built)) == len(built)


def test_each_mode_has_its_own_stop_flag():
    flags = {keys.stop_flag(mode, "BTCUSDT", "sma") for mode in keys.MODES}
    assert len(flags) == len(keys.MODES) == 4


def test_a_colon_inside_a_part_cannot_make_two_keys_collide():
    assert keys.stop_flag("live", "A:B", "C") != keys.stop_flag("live", "A", "B:C")
    assert keys.live_signal("BTC/USDT:USDT", "x") != keys.live_signal("BTC/USDT", "USDT:x")


def test_an_unknown_mode_is_refused_with_a_suggestion():
    with pytest.raises(ValueError, match='Did you mean "backtest"'):
        keys.stop_flag("backtset", "BTCUSDT", "sma")


def test_an_empty_part_is_refused():
    with pytest.raises(ValueError, match="symbol"):
        keys.instance_status("walker", " ", "sweep")


def test_a_search_journal_is_one_key_under_the_prefix_whatever_its_study_holds():
    # a study name holds ':' (btfarm:WALKER:SYMBOL:HASH): escaped, so the journal stays one key
    # of its own kind, never a key of Optuna's own layout (``PREFIX:snapshot``)
    key = keys.search_journal("btfarm:sweep:BTC/USDT:USDT:0123456789ab")
    assert key == "btfarm:search-journal:btfarm%3Asweep%3ABTC/USDT%3AUSDT%3A0123456789ab"
    assert keys.search_journal("a:b") != keys.search_journal("a%3Ab")


def test_each_reporting_log_is_its_own_key_per_symbol_and_strategy():
    logs = {
        keys.report_risk("BTC/USDT:USDT", "x"),
        keys.report_schedule("BTC/USDT:USDT", "x"),
        keys.report_heat("x", "BTC/USDT:USDT"),
        keys.report_partial("BTC/USDT:USDT", "x"),
        keys.report_performance("BTC/USDT:USDT", "x"),
    }
    assert len(logs) == 5 and all(k.startswith("btfarm:report:") for k in logs)
    assert keys.report_risk("A:B", "C") != keys.report_risk("A", "B:C")
    assert keys.report_heat("A:B", "C") != keys.report_heat("A", "B:C")
    assert keys.report_partial("A:B", "C") != keys.report_partial("A", "B:C")
    assert keys.report_performance("A:B", "C") != keys.report_performance("A", "B:C")
    assert keys.report_heat_symbols("x") not in logs
    assert keys.REPORT_LOG_MAX_ROWS == 250 and keys.REPORT_LOG_TTL_SECONDS == 30 * 86_400
