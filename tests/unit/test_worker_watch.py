"""orchestrator/sweeps/worker_watch.py and the records it reads (shared/store/worker_registry.py), on a
real Redis with a clock the test moves: when a farm sweep has no worker that can run it, it
says so at once and ends after the wait, naming the reason and the commands to type."""

from __future__ import annotations

import json
import logging

import pytest

from btfarm.orchestrator.sweeps.next_commands import resume_command, worker_command
from btfarm.orchestrator.sweeps.worker_watch import CHECK_SECONDS, WorkerWatch, printable
from btfarm.shared.store import keys, worker_registry

pytestmark = pytest.mark.unit
URL = "redis://farm:6379/0"
WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def watch_of(r, clock, imports=("my_strategies",)) -> WorkerWatch:
    return WorkerWatch(r, "run1", imports, URL, WAIT, clock=clock)


def test_the_commands_carry_the_imports_quoted_for_a_shell():
    assert (
        worker_command(["a.b", "my dir/s.py"])
        == "btfarm worker --import a.b --import 'my dir/s.py'"
    )
    assert resume_command("r1", []) == "btfarm walker resume r1"
    assert resume_command("r1", ["a", "a"]) == "btfarm walker resume r1 --import a"


def test_no_live_worker_is_said_at_once_and_ends_the_sweep_after_the_wait(redis_client, caplog):
    clock = Clock()
    watch = watch_of(redis_client, clock)
    with caplog.at_level(logging.WARNING, logger="btfarm.walker"):
        assert watch.check(1) is None
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"sweep run1: no worker is alive on {URL}: start `btfarm worker --import my_strategies` "
        "(the sweep waits 10 s for one: BTFARM_WORKER_WAIT_SECONDS)"
    ]
    clock.advance(WAIT - CHECK_SECONDS)
    assert watch.check(1) is None
    clock.advance(CHECK_SECONDS)
    reason = watch.check(1)
    assert reason == (
        f"no worker is alive on {URL}: start `btfarm worker --import my_strategies`; none came "
        "within 10 s (BTFARM_WORKER_WAIT_SECONDS): once one runs, "
        "`btfarm walker resume run1 --import my_strategies` runs the variants left"
    )
    assert len(caplog.records) == 1  # said once, not at every check


def test_a_worker_that_comes_within_the_wait_keeps_the_sweep_going(redis_client):
    clock = Clock()
    watch = watch_of(redis_client, clock)
    assert watch.check(1) is None and watch.slots == 0
    clock.advance(WAIT - 1)
    worker_registry.announce(redis_client, "celery@back", 3, arriving=True)
    assert watch.check(1) is None and watch.slots == 3
    worker_registry.leave(redis_client, "celery@back")
    clock.advance(CHECK_SECONDS)
    assert watch.check(1) is None  # the wait starts again from here
    clock.advance(WAIT - CHECK_SECONDS)
    assert watch.check(1) is None
    clock.advance(CHECK_SECONDS)
    assert watch.check(1) is not None


def test_checks_are_at_most_one_a_second(redis_client):
    clock = Clock()
    watch = watch_of(redis_client, clock)
    watch.check(1)
    worker_registry.announce(redis_client, "celery@a", 2)
    assert watch.check(1) is None and watch.slots == 0  # not read again yet
    clock.advance(CHECK_SECONDS)
    watch.check(1)
    assert watch.slots == 2


def test_when_every_live_worker_refuses_the_sweep_it_ends_naming_why(redis_client):
    clock = Clock()
    worker_registry.announce(redis_client, "celery@a", 2)
    worker_registry.announce(redis_client, "celery@b", 1)
    watch = watch_of(redis_client, clock)
    assert watch.check(1) is None and watch.slots == 3
    worker_registry.refuse(
        redis_client, "celery@a", "run1", 1, "code differs: worker celery@a:7 runs x"
    )
    clock.advance(CHECK_SECONDS)
    assert watch.check(1) is None and watch.slots == 1  # b still runs it
    worker_registry.refuse(
        redis_client, "celery@b", "run1", 1, "code differs: worker celery@b:8 runs y"
    )
    worker_registry.refuse(redis_client, "celery@b", "other-run", 1, "code differs: elsewhere")
    clock.advance(CHECK_SECONDS)
    assert watch.check(1) is None and watch.slots == 0
    clock.advance(WAIT)
    reason = watch.check(1)
    assert reason.startswith(
        f"no live worker on {URL} runs this sweep's code (code differs: worker celery@a:7 "
        "runs x; code differs: worker celery@b:8 runs y): start `btfarm worker --import "
        "my_strategies` with the orchestrator's code; none came within 10 s"
    )
    assert "elsewhere" not in reason
    clock.advance(CHECK_SECONDS)
    assert (
        watch.check(2) is None and watch.slots == 3
    )  # another attempt (a resume) is a fresh question


def test_a_worker_that_starts_again_forgets_what_it_refused_and_failed_with(redis_client):
    worker_registry.refuse(redis_client, "celery@a", "run1", 1, "code differs")
    worker_registry.record_start_failure(redis_client, "celery@a", "ImportError: nope", ["m"])
    assert worker_registry.refusals(redis_client, ["celery@a"], "run1", 1) == {
        "celery@a": "code differs"
    }
    worker_registry.announce(redis_client, "celery@a", 1)  # a beat: remembers
    assert worker_registry.refusals(redis_client, ["celery@a"], "run1", 1)
    worker_registry.announce(redis_client, "celery@a", 1, arriving=True)  # a new start: forgets
    assert worker_registry.refusals(redis_client, ["celery@a"], "run1", 1) == {}
    assert worker_registry.start_failures(redis_client) == []
    assert redis_client.ttl(keys.worker_refusals("celery@b")) == -2
    worker_registry.refuse(redis_client, "celery@b", "run1", 1, "x")
    assert (
        0
        < redis_client.ttl(keys.worker_refusals("celery@b"))
        <= worker_registry.WORKER_RECORD_TTL_SECONDS
    )


def test_the_last_start_failure_is_shown_escaped_and_a_bad_entry_is_skipped(redis_client):
    clock = Clock()
    worker_registry.record_start_failure(redis_client, "celery@old", "ImportError: old", ["m"])
    old = json.loads(redis_client.hget(keys.worker_start_failures(), "celery@old"))
    old["at_ms"] -= 1000  # a second before the next: two records in one millisecond have no order
    redis_client.hset(keys.worker_start_failures(), "celery@old", json.dumps(old))
    redis_client.hset(
        keys.worker_start_failures(),
        "celery@stale",
        json.dumps(
            {
                "error": "ancient",
                "imports": [],
                "at_ms": worker_registry.redis_now_ms(redis_client)
                - 1000 * (worker_registry.START_FAILURE_SHOWN_SECONDS + 60),
            }
        ),
    )
    redis_client.hset(keys.worker_start_failures(), "celery@junk", "not json")
    worker_registry.record_start_failure(
        redis_client, "celery@new", "ModuleNotFoundError: \x1b[31mx\nmore", ["m"]
    )
    failures = worker_registry.start_failures(redis_client)
    assert [node for node, _, _ in failures] == [
        "celery@new",
        "celery@old",
    ]  # the latest first; stale and junk skipped
    watch = watch_of(redis_client, clock)
    watch.check(1)
    clock.advance(WAIT)
    reason = watch.check(1)
    assert (
        "; the last worker to start, celery@new, exited 0 s ago: ModuleNotFoundError: \\x1b[31mx\\nmore "
        "(1 more failed to start); none came within" in reason
    )
    assert "\x1b" not in reason and "\n" not in reason
    assert printable("a\tb") == "a\\tb"


def test_a_redis_at_its_maxmemory_is_named(redis_client):
    clock = Clock()
    used = int(redis_client.info("memory")["used_memory"])
    redis_client.config_set(
        "maxmemory", str(used + 1024)
    )  # just above: the watch's reads still work
    try:
        watch = watch_of(redis_client, clock)
        watch.check(1)
        clock.advance(WAIT)
        reason = watch.check(1)
    finally:
        redis_client.config_set("maxmemory", "0")
    assert (
        "% of its maxmemory (" in reason
        and "a worker exits when Redis refuses its writes" in reason
    )
