"""workers/app.py: every channel of the Celery app takes JSON only (nothing read from the
broker or the result backend in Redis is unpickled)."""

from __future__ import annotations

import pytest
from celery import Celery

from btfarm.shared.settings import Settings
from btfarm.workers.app import _conf

pytestmark = pytest.mark.unit


@pytest.fixture
def app() -> Celery:
    """A Celery app of its own with the farm's configuration (the process's app untouched)."""
    probe = Celery("wire-probe", set_as_current=False)
    probe.conf.update(
        _conf(Settings.from_env({}), ("redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0"))
    )
    return probe


def test_tasks_results_control_and_events_are_json_only(app):
    conf = app.conf
    assert (conf.task_serializer, conf.result_serializer, conf.event_serializer) == ("json",) * 3
    assert conf.accept_content == ["json"] and conf.result_accept_content == ["json"]
    assert app.backend.accept == {"application/json"}  # the result backend decodes JSON only
    assert app.control.mailbox.accept == ["json"]  # ping / inspect replies
    with app.connection_for_read("memory://") as connection:  # no broker needed to build them
        assert app.events.Receiver(connection, handlers={}).accept == {"json"}  # Flower's side
        assert app.events.Dispatcher(connection, enabled=False).serializer == "json"  # the workers'
