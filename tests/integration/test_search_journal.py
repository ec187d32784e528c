"""A search's Optuna study in Redis (orchestrator/searches/journal.py): JSON journal lines
under btfarm's prefix, never a pickled snapshot; and a search no worker answers ends as
interrupted, naming how it goes on.

A real redis-server throughout; one real ``celery worker`` for the searches that run.
A planted pickle creates a marker file when unpickled: its absence proves nothing read
it as a pickle.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import optuna
import pytest

from btfarm.orchestrator import Walker
from btfarm.orchestrator.searches.journal import open_storage
from btfarm.orchestrator.state_client import state
from btfarm.shared.errors import PersistenceError
from btfarm.shared.registry import add_walker
from btfarm.shared.search_space import search
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys
from btfarm.workers.app import configure
from tests import farm_strategies
from tests.support.celery_workers import REPO, CeleryWorker, farm_env, use_farm
from tests.support.faulted_sweep import point_at
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
SYMBOL = farm_strategies.SYMBOL
IDLE_SECONDS = 2  # BTFARM_SWEEP_IDLE_TIMEOUT of the search no worker answers


class _CreatesAFileWhenUnpickled:
    """Unpickling this opens (creates) ``path``: proof that something unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def plant_snapshot(client, marker, key: str) -> str:
    """A pickle that creates ``marker`` when unpickled, at ``key``; returns the key."""
    client.set(key, pickle.dumps(_CreatesAFileWhenUnpickled(str(marker))))
    return key


def snapshot_keys(study: str) -> list[str]:
    """Optuna's unprefixed ``:snapshot``, and the snapshot a journal prefixed by ``study``'s key
    would read (Optuna's Redis backend reads ``PREFIX:snapshot``)."""
    return [":snapshot", f"{keys.search_journal(study)}:snapshot"]


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[str]:
    """A redis-server and one worker for this module, stopped by PID at the end."""
    with RedisServer() as server:
        worker = CeleryWorker(server.url, tmp_path_factory.mktemp("workers"))
        try:
            worker.start()
            os.environ["BTFARM_REDIS_URL"] = server.url
            get_settings.cache_clear()
            worker.wait_ready(configure())
            yield server.url
        finally:
            os.environ.pop("BTFARM_REDIS_URL", None)
            worker.stop()


@pytest.fixture
def farm_url(farm, monkeypatch, tmp_path) -> Iterator[str]:
    yield from use_farm(farm, monkeypatch, tmp_path)


@pytest.fixture
def no_worker(redis_server, redis_client, monkeypatch, tmp_path) -> Iterator[str]:
    """The session's redis-server, emptied, which no worker consumes; a sweep with no
    result for IDLE_SECONDS ends as interrupted."""
    yield from point_at(redis_server.url, monkeypatch, tmp_path, idle_timeout=IDLE_SECONDS)


def test_a_study_is_journal_lines_under_the_prefix_and_a_planted_snapshot_is_never_unpickled(
    redis_client, tmp_path
):
    marker = tmp_path / "unpickled"
    study = "btfarm:journal-probe:BTCUSDT:0123456789ab"
    planted = [plant_snapshot(redis_client, marker, key) for key in snapshot_keys(study)]

    def opened() -> optuna.Study:
        return optuna.create_study(
            study_name=study,
            storage=open_storage(redis_client, study),
            direction="maximize",
            load_if_exists=True,
        )

    first = opened()
    first.tell(first.ask({"x": optuna.distributions.IntDistribution(1, 9)}), 1.5)
    again = opened()  # replayed from the journal lines alone
    assert [(t.params, t.value) for t in again.trials] == [(first.trials[0].params, 1.5)]
    assert not marker.exists()
    # the study is one list of JSON lines under btfarm's prefix; nothing of it outside, no snapshot
    journal = keys.search_journal(study)
    assert redis_client.type(journal) == "list" and redis_client.llen(journal) >= 3
    assert 0 < redis_client.ttl(journal) <= keys.WALKER_RESULT_TTL_SECONDS
    assert sorted(redis_client.keys("*")) == sorted([journal, *planted])


def test_a_journal_line_that_is_not_json_is_refused_naming_the_key(redis_client):
    study = "btfarm:journal-probe:BTCUSDT:feedfeedfeed"
    journal = keys.search_journal(study)
    redis_client.rpush(journal, pickle.dumps({"op_code": 0}))
    with pytest.raises(
        PersistenceError,
        match=rf"the search journal {re.escape(journal)} in Redis has at line 0 .*"
        r"not an Optuna journal record.*DEL",
    ):
        open_storage(redis_client, study)
    redis_client.delete(journal)
    redis_client.set(journal, "a string, not a list")
    with pytest.raises(
        PersistenceError, match=rf"the search journal {re.escape(journal)} in Redis is not a list"
    ):
        open_storage(redis_client, study)


def test_a_search_on_a_redis_with_planted_snapshots_runs_and_resumes_its_study(farm_url, tmp_path):
    marker = tmp_path / "unpickled"
    client = state()
    plant_snapshot(
        client, marker, ":snapshot"
    )  # what Optuna's backend, unprefixed, unpickles on open
    add_walker(
        walker_name="journal-search",
        exchange_name="farm-market",
        frame_name="farm-2d",
        min_trades=1,
        strategies=[search("farm-sma", n_trials=4, seed=7, batch=2, fast=(3, 20), slow=(21, 40))],
        override=True,
    )
    first = list(Walker.run(SYMBOL, "journal-search"))
    data = Walker.get_data(SYMBOL, "journal-search")
    assert not marker.exists()
    assert [p.strategies_tested for p in first] == [1, 2, 3, 4] and len(data.search_trials) == 4
    study = data.search_spec.rsplit("study ", 1)[1]
    planted = [plant_snapshot(client, marker, key) for key in snapshot_keys(study)]
    assert client.type(keys.search_journal(study)) == "list"  # its study, under btfarm's prefix
    assert not client.keys("*:log_number") and not client.keys(
        "*:log:*"
    )  # Optuna's own layout: unused

    # six trials now: the four read back from the journal (the snapshots beside it never read), two run
    add_walker(
        walker_name="journal-search",
        exchange_name="farm-market",
        frame_name="farm-2d",
        min_trades=1,
        strategies=[search("farm-sma", n_trials=6, seed=7, batch=2, fast=(3, 20), slow=(21, 40))],
        override=True,
    )
    again = list(Walker.run(SYMBOL, "journal-search"))
    more = Walker.get_data(SYMBOL, "journal-search")
    assert not marker.exists()
    assert [p.strategies_tested for p in again] == list(range(1, 7)) and more.resumed == 4
    assert list(more.variants)[:4] == list(data.variants) and len(more.search_trials) == 6
    assert all(client.exists(key) for key in planted)  # left alone: neither read nor overwritten


def test_a_search_no_worker_answers_ends_interrupted_after_the_idle_timeout_naming_how_it_goes_on(
    no_worker, tmp_path
):
    started = time.monotonic()
    progress = list(Walker.run(SYMBOL, "farm-search"))
    took = time.monotonic() - started
    assert (
        progress == [] and took < 10 * IDLE_SECONDS
    )  # its first batch's idle timeout, not forever
    data = Walker.get_data(SYMBOL, "farm-search")
    assert data.interrupted and data.strategies_tested == 0
    command = f"btfarm walker tests.farm_strategies farm-search --symbol {SYMBOL}"
    assert f"no result within {IDLE_SECONDS:g} s (BTFARM_SWEEP_IDLE_TIMEOUT)" in data.search_note
    assert f"run the walker again to go on: {command}" in data.search_note
    assert (
        "btfarm walker resume" not in data.search_note
    )  # a batch's resume would not tell the study
    (status,) = [r for r in Walker.list() if r["walker_name"] == "farm-search"]
    assert status["outcome"] == "interrupted"
    # its study learnt nothing, and the trials of that batch are not left running in it
    study = data.search_spec.rsplit("study ", 1)[1]
    trials = optuna.load_study(study_name=study, storage=open_storage(state(), study)).trials
    assert trials and all(t.state == optuna.trial.TrialState.FAIL for t in trials)

    # the CLI says the same on one line, and exits non-zero: nothing ran
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "btfarm.orchestrator.cli",
            "walker",
            "tests.farm_strategies",
            "farm-search",
            "--symbol",
            SYMBOL,
            "--no-dump",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=farm_env(
            no_worker,
            BTFARM_SWEEP_IDLE_TIMEOUT=str(IDLE_SECONDS),
            BTFARM_STATE_DIR=str(tmp_path / "cli-state"),
        ),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"run the walker again to go on: {command}" in " ".join(done.stderr.split())
    assert "btfarm walker resume" not in done.stderr.split("the search ended early:")[1]
