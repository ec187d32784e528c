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
    redis_client.zadd(keys.worker_heartbeats(), {"celery@killed": int(time.time() * 1000) - 1})
    assert worker_registry.live_slots(redis_client) == {"celery@alive": 2}
    assert redis_client.hget(keys.worker_slots(), "celery@killed") is None


def test_no_worker_means_no_slots(redis_client):
    assert worker_registry.live_slots(redis_client) == {}
