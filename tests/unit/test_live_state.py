"""shared/store/live_state.py, file backend: atomic state, exactly-once log, corrupt files left alone."""

import json
import os

import pytest

from btfarm.shared.errors import PersistenceError
from btfarm.shared.store.live_state import FileLiveState, event_key, new_document

pytestmark = pytest.mark.unit

SIGNAL = {"id": "abc123", "position": "long", "price_open": 100.0}
CORE = {
    "phase": "active",
    "signal": SIGNAL,
    "next_ms": 60_000,
    "peak": [100.0, 0.0],
    "fall": [100.0, -0.4004],
    "last_bucket": 7,
}


def opened(signal_id="abc123"):
    return {"action": "opened", "signal": {**SIGNAL, "id": signal_id}, "timestamp": 0}


def doc(outbox=()):
    return new_document("SIM", "sma-cross", "replay", CORE, list(outbox), saved_at=1)


@pytest.fixture
def store(tmp_path):
    s = FileLiveState(tmp_path / "live", "SIM", "sma-cross")
    yield s
    s.close()


def test_a_saved_state_loads_back(store):
    assert store.load() is None
    store.save(doc([opened()]))
    again = FileLiveState(store.path.parent.parent, "SIM", "sma-cross")
    assert again.load() == doc([opened()])
    assert store.path.name == "sma-cross.json"


def test_save_leaves_no_temporary_file_behind(store):
    store.load()
    for _ in range(3):
        store.save(doc())
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["sma-cross.json"]


def test_names_are_escaped_into_safe_file_names(tmp_path):
    s = FileLiveState(tmp_path / "live", "BTC/USDT", "sma[fast=5]")
    s.load()
    s.save(new_document("BTC/USDT", "sma[fast=5]", "x", CORE, [], 1))
    assert s.path.parent.parent == tmp_path / "live" and s.path.exists()


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": 1, "symbol": "SIM", "strategy_name": "sma-cross", "core": {"phase": "act',  # truncated
        b"\x00\x00\x00\x00",  # a torn block
        b"",  # zero length: the crash of a writer that did not fsync
        b"[1, 2, 3]",
        b'{"version": 99, "symbol": "SIM", "strategy_name": "sma-cross", "core": {}, "outbox": []}',
        b'{"version": 1, "symbol": "OTHER", "strategy_name": "sma-cross", "core": {}, "outbox": []}',
    ],
)
def test_a_corrupt_state_names_the_file_and_is_never_overwritten(store, content):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    before = os.stat(store.path)
    with pytest.raises(PersistenceError) as info:
        store.load()
    assert str(store.path) in str(info.value)
    assert "will not overwrite" in str(info.value)
    with pytest.raises(PersistenceError, match="refusing to overwrite"):
        store.save(doc())
    assert store.path.read_bytes() == content
    assert os.stat(store.path).st_mtime_ns == before.st_mtime_ns


def test_the_log_keeps_every_event_once_in_order(store):
    store.append(opened("a"))
    store.append({**opened("a"), "action": "closed"})
    assert [event_key(e) for e in store.events()] == [("opened", "a"), ("closed", "a")]


def test_a_half_written_last_line_is_not_an_event_and_repair_cuts_it(store):
    store.append(opened("a"))
    with open(store.log_path, "ab") as handle:
        handle.write(b'{"action": "closed", "sig')  # the crash came mid-append
    assert [event_key(e) for e in store.events()] == [("opened", "a")]
    store.repair()
    store.append({**opened("a"), "action": "closed"})
    assert [event_key(e) for e in store.events()] == [("opened", "a"), ("closed", "a")]


def test_a_corrupt_line_inside_the_log_names_file_and_line(store):
    store.append(opened("a"))
    with open(store.log_path, "ab") as handle:
        handle.write(b"garbage\n")
    store.append(opened("b"))
    with pytest.raises(PersistenceError, match=rf"{store.log_path} line 2"):
        store.events()


def test_a_second_holder_is_refused_until_the_first_lets_go(store):
    store.acquire()
    other = FileLiveState(store.path.parent.parent, "SIM", "sma-cross")
    with pytest.raises(PersistenceError, match="in use by another process"):
        other.acquire()
    store.close()
    other.acquire()
    other.close()


def test_the_state_is_plain_json_on_disk(store):
    store.load()
    store.save(doc([opened()]))
    on_disk = json.loads(store.path.read_text())
    assert on_disk["core"]["phase"] == "active" and on_disk["outbox"][0]["action"] == "opened"
