"""shared/store/worker_registry.py on a real Redis: live workers and their pool sizes."""

from __future__ import annotations

import time

import pytest

from btfarm.shared.store import keys, worker_registry

pytestmark = pytest.mark.unit


def test_announced_workers_are_live_with_their_pool_size(redis_client):
    worker_registry.announce(redis_client, "celery@a", 1)
    worker_registry.announce(redis_client, "celery@b", 4)
    assert worker_registry.live_slots(redis_client) == {"celery@a": 1, "celery@b": 4}
    worker_registry.leave(redis_client, "celery@a")
    assert worker_registry.live_slots(redis_client) == {"celery@b": 4}


def test_a_worker_whose_heartbeat_lapsed_is_pruned(redis_client):
    worker_registry.announce(redis_client, "celery@alive", 2)
    worker_registry.announce(redis_client, "celery@killed", 3)
    redis_client.zadd(
        keys.worker_heartbeats(), {"celery@killed": worker_registry.redis_now_ms(redis_client) - 1}
    )
    assert worker_registry.live_slots(redis_client) == {"celery@alive": 2}
    assert redis_client.hget(keys.worker_slots(), "celery@killed") is None


def test_no_worker_means_no_slots(redis_client):
    assert worker_registry.live_slots(redis_client) == {}


@pytest.mark.parametrize("skew_seconds", [-30, 30])
def test_a_host_clock_off_by_30_s_changes_nothing(redis_client, monkeypatch, skew_seconds):
    """Expiry is in Redis' clock: a slow host is not born expired, a fast one not kept alive."""
    real = time.time
    with monkeypatch.context() as on_the_worker:  # the worker's host; the reader's clock is right
        on_the_worker.setattr(time, "time", lambda: real() + skew_seconds)
        worker_registry.announce(redis_client, "celery@skewed", 2)
    assert worker_registry.live_slots(redis_client) == {"celery@skewed": 2}
    expires = redis_client.zscore(keys.worker_heartbeats(), "celery@skewed")
    served = worker_registry.redis_now_ms(redis_client)
    assert 0 < expires - served <= worker_registry.HEARTBEAT_TTL_SECONDS * 1000
