"""A worker running other code than the orchestrator runs none of its sweep (issue 29.5).

It hands each chunk back untouched (nothing claimed, stolen or run) and the workers
running the orchestrator's code do the work; with none of those, the sweep says so and
ends as interrupted; a resume once the workers are fixed runs what is missing, and
reruns the variants an older btfarm failed with "code differs".

Real processes: a redis-server and ``celery worker`` subprocesses importing
``refusal_strategies`` from their own folder: the "same" copy is the orchestrator's,
the "edited" copy has another take profit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from btfarm.orchestrator import Walker
from btfarm.orchestrator.sweeps.export import stored_data
from btfarm.shared.payloads import result_record
from btfarm.shared.settings import get_settings
from btfarm.shared.store import keys, result_blocks, variant_marks
from btfarm.workers.app import TASK_QUEUE, configure
from btfarm.workers.variant_run import CODE_MISMATCH
from tests.support.celery_workers import CeleryWorker, use_farm
from tests.support.code_copies import copy_worker, imported, write_copies
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYMBOL = "SIMUSDT"
WALKER = "refusal-sweep"
VARIANTS = 12
WAIT = 2  # BTFARM_WORKER_WAIT_SECONDS here

MODULE = "refusal_strategies"
REGISTRATIONS = """

add_exchange(csv_exchange("refusal-sim", files={"SIMUSDT": SIM_CSV}), override=True)
add_frame(frame_name="refusal-2d", interval="1m", start_date="2025-01-02T00:00:00Z",
          end_date="2025-01-03T23:59:00Z", override=True)
add_strategy(strategy_name="refusal-cross", interval="15m", get_signal=cross_signal,
             params={"fast": 5, "slow": 20}, override=True)
add_walker(walker_name="refusal-sweep", exchange_name="refusal-sim", frame_name="refusal-2d",
           strategies=[sweep("refusal-cross", fast=[3, 4, 5, 6, 7, 8], slow=[20, 30])], override=True)
"""


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Iterator[Path]:
    """The two copies of the module; the orchestrator imports the "same" one."""
    root = write_copies(tmp_path_factory.mktemp("refusal"), MODULE, REGISTRATIONS)
    with imported(root / "same", MODULE):  # registers the walker here
        yield root


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def url(server, copies, monkeypatch, tmp_path) -> Iterator[str]:
    monkeypatch.setenv("BTFARM_WORKER_WAIT_SECONDS", str(WAIT))
    monkeypatch.setenv(
        "BTFARM_SWEEP_IDLE_TIMEOUT", "600"
    )  # only the refusals may end a sweep early
    yield from use_farm(server.url, monkeypatch, tmp_path)
    get_settings.cache_clear()


def worker(url: str, copies: Path, copy: str, logdir: Path) -> CeleryWorker:
    started = copy_worker(url, copies, copy, MODULE, logdir).start()
    try:
        started.wait_ready(configure())
    except BaseException:
        started.stop()
        raise
    return started


def test_a_worker_running_other_code_hands_its_chunks_back_and_the_right_one_runs_them(
    url, server, copies, tmp_path
):
    same = worker(url, copies, "same", tmp_path / "workers")
    edited = worker(url, copies, "edited", tmp_path / "workers")
    client = server.client()
    try:
        progress = list(Walker.run(SYMBOL, WALKER, chunk_size=1))
        data = Walker.get_data(SYMBOL, WALKER)
        refusal = client.hget(
            keys.worker_refusals(edited.name), f"{data.run_id}/1"
        )  # (gone once it stops)
        runs = variant_marks.executions(client, data.run_id)
    finally:
        client.close()
        edited.stop()
        same.stop()
    assert refusal and refusal.startswith(f"{CODE_MISMATCH}: worker {edited.name}:"), (
        refusal
    )  # it took some
    assert " runs strategy refusal-cross at " in refusal
    assert len(progress) == VARIANTS and not data.interrupted
    assert data.unfinished == {}  # none failed: the edited worker ran none
    records = Walker.launcher.tally(SYMBOL, WALKER, "test").records
    assert {r["worker"].rpartition(":")[0] for r in records.values()} == {same.name}
    assert len({fp["source_hash"] for fp in data.fingerprints.values()}) == 1
    assert sorted(runs.values()) == [1] * VARIANTS  # each once, all on the right worker


def test_with_no_worker_running_the_sweeps_code_it_ends_interrupted_and_a_fixed_resume_finishes_it(
    url, server, copies, tmp_path
):
    edited = worker(url, copies, "edited", tmp_path / "workers")
    try:
        list(Walker.run(SYMBOL, WALKER, chunk_size=1))  # ends: nothing waits for the idle timeout
        data = Walker.get_data(SYMBOL, WALKER)
        run_id = data.run_id
        client = server.client()
        try:
            refusal = client.hget(keys.worker_refusals(edited.name), f"{run_id}/1")
            assert variant_marks.executions(client, run_id) == {}  # nothing ran
            assert not client.exists(keys.walker_claims(run_id, 1))  # nothing was claimed
            assert not [
                m for m in client.lrange(TASK_QUEUE, 0, -1) if run_id in m
            ]  # none left queued
        finally:
            client.close()
    finally:
        edited.stop()
    assert refusal and refusal.startswith(f"{CODE_MISMATCH}: worker {edited.name}:")
    assert data.interrupted and data.strategies_tested == 0 and len(data.unfinished) == VARIANTS
    reason = next(iter(data.unfinished.values()))
    assert (
        f"no live worker on {server.url} runs this sweep's code ({CODE_MISMATCH}: worker {edited.name}:"
        in reason
    )
    assert (
        "start `btfarm worker --import refusal_strategies` with the orchestrator's code" in reason
    )
    assert f"none came within {WAIT} s" in reason
    assert f"`btfarm walker resume {run_id} --import refusal_strategies`" in reason

    # an older btfarm's worker failed some variants as "code differs" and stored them so
    failed_before = [0, 5, 11]
    client = server.client()
    try:
        variants = Walker.plan_of(run_id).variants
        result_blocks.store_records(
            client,
            run_id,
            [
                result_record(
                    variants[i],
                    "failed",
                    worker="old@host:1",
                    error=f"{CODE_MISMATCH}: worker old@host:1 runs strategy refusal-cross at 0000, the "
                    "orchestrator at 1111: restart it with the same code",
                )
                for i in failed_before
            ],
        )
    finally:
        client.close()

    same = worker(url, copies, "same", tmp_path / "workers-fixed")
    try:
        progress = list(Walker.resume(run_id))
    finally:
        same.stop()
    data = Walker.get_data(SYMBOL, WALKER)
    assert data.run_id == run_id and not data.interrupted and data.unfinished == {}
    assert (
        len(progress) == VARIANTS and data.resumed == 0
    )  # the old failures were not taken as results
    client = server.client()
    try:
        runs = variant_marks.executions(client, run_id)
    finally:
        client.close()
    assert sorted(runs) == list(range(VARIANTS)) and set(runs.values()) == {
        1
    }  # the failed ones rerun too
    assert (
        stored_data(run_id).unfinished == {}
    )  # the stored sweep reads the rerun, not the old failure
