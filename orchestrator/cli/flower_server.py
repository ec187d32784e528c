"""Flower as ``btfarm flower`` serves it: every page behind the credentials.

Flower 2.2 guards its pages and API with ``@tornado.web.authenticated`` but not
three routes: ``/metrics`` (Prometheus text naming every worker and counting its
tasks), ``/healthcheck`` and ``/logout`` (a page without data).
``python -m btfarm.orchestrator.cli.flower_server ARGS`` is ``celery ARGS`` with those
routes served by subclasses that require the same basic auth (or OAuth login) as the
rest. Left open: ``/static/`` (Flower's own CSS and scripts) and the answers "not
found". With ``--unauthenticated`` Flower has no credentials to ask for, and every
page is open, as the user chose.

``probe`` is the health check a container runs (``btfarm flower --check``): it
sends the credentials, so no page has to stay open for it.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from typing import Any

import tornado.web
from flower import urls
from flower.views import auth, monitor

PROBE_TIMEOUT_SECONDS = 5.0  # how long the health check waits for Flower's answer


class Metrics(monitor.Metrics):
    """``/metrics``, for a signed-in client only."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await super().get()


class Healthcheck(monitor.Healthcheck):
    """``/healthcheck``, for a signed-in client only."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await super().get()


class Logout(auth.LogoutHandler):
    """``/logout``, for a signed-in client only, like every other page."""

    @tornado.web.authenticated
    def get(self) -> None:
        super().get()


GUARDED: dict[type, type] = {
    monitor.Metrics: Metrics,
    monitor.Healthcheck: Healthcheck,
    auth.LogoutHandler: Logout,
}


def guard(handlers: list[Any]) -> None:
    """Serve, in place in Flower's route list, each open page by its guarded subclass.
    In place, because ``flower.app`` holds the list itself."""
    for index, route in enumerate(handlers):
        if isinstance(route, tornado.web.URLSpec) and route.handler_class in GUARDED:
            handlers[index] = tornado.web.url(
                route.regex.pattern, GUARDED[route.handler_class], route.kwargs, route.name
            )
        elif isinstance(route, tuple) and route[1] in GUARDED:
            handlers[index] = (route[0], GUARDED[route[1]], *route[2:])


def probe(port: int, credentials: str | None, host: str = "127.0.0.1") -> str | None:
    """None when Flower on ``host:port`` answers ``/healthcheck`` with "OK" to
    ``credentials`` ("USER:PASSWORD", or None for an unauthenticated Flower); else
    why not, in one line that never shows the password."""
    request = urllib.request.Request(f"http://{host}:{port}/healthcheck")
    if credentials:
        token = base64.b64encode(credentials.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_SECONDS) as reply:
            body = reply.read(64)
    except urllib.error.HTTPError as exc:
        return f"Flower on {host}:{port} answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        return f"Flower on {host}:{port} did not answer: {getattr(exc, 'reason', exc)}"
    return None if body == b"OK" else f"Flower on {host}:{port} answered {body!r}, not OK"


def main() -> None:
    """``celery`` with Flower's open routes guarded (what ``btfarm flower`` executes)."""
    guard(urls.handlers)
    from celery.__main__ import main as celery_main

    celery_main()


if __name__ == "__main__":
    main()
