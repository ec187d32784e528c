"""``btfarm flower`` against a real redis-server, as a real process: no page answers
without the credentials (``/metrics`` and ``/healthcheck`` did), every page answers with
them, and ``btfarm flower --check`` (the container's health check) sends them."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.celery_workers import REPO, farm_env
from tests.support.processes import stop_process, wait_for
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
AUTH = ("farm", "s3cret-pass")


@pytest.fixture(scope="module")
def flower(tmp_path_factory) -> Iterator[dict]:
    """A redis-server and ``btfarm flower`` on it, stopped by PID at the end."""
    logdir = tmp_path_factory.mktemp("flower")
    server = RedisServer().start()
    port = free_port()
    log = open(logdir / "flower.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "btfarm.orchestrator.cli", "flower", "--port", str(port)],
        cwd=REPO,
        env=farm_env(server.url, BTFARM_FLOWER_BASIC_AUTH=":".join(AUTH)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/workers", auth=AUTH, timeout=5).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None  # died: fail below with its log

        wait_for(up, 60, "Flower to answer")
        assert process.poll() is None, (logdir / "flower.log").read_text()[-2000:]
        yield {"base": base, "port": port, "url": server.url}
    finally:
        stop_process(process, timeout=15)
        log.close()
        server.close()


def flower_routes() -> list[str]:
    """A path for each of Flower's own routes (its capture groups filled in)."""
    from flower.urls import handlers

    paths = []
    for route in handlers:
        pattern = route[0] if isinstance(route, tuple) else route.regex.pattern
        path = re.sub(r"\([^)]*\)", "x", pattern).rstrip("$").replace("/?", "")
        if path.startswith("/") and not path.startswith("/static") and path != ".*":
            paths.append(path)
    return paths


@pytest.mark.parametrize("path", ["/metrics", "/healthcheck", "/logout"])
def test_the_pages_flower_left_open_need_the_credentials(flower, path):
    url = flower["base"] + path
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, auth=(AUTH[0], "wrong"), timeout=5).status_code == 401
    answered = httpx.get(url, auth=AUTH, timeout=5)
    assert answered.status_code == 200
    if path == "/metrics":
        assert "flower_" in answered.text
    elif path == "/healthcheck":
        assert answered.text == "OK"


def test_no_flower_page_answers_without_the_credentials(flower):
    paths = flower_routes()
    assert {"/metrics", "/healthcheck", "/api/workers", "/tasks", "/"} <= set(paths)
    for path in paths:
        for method in ("GET", "POST"):
            reply = httpx.request(method, flower["base"] + path, timeout=10)
            assert reply.status_code in (401, 403, 404, 405), (method, path, reply.status_code)
            assert "celery@" not in reply.text and "flower_events_total" not in reply.text


def test_the_health_check_sends_the_credentials_and_says_why_it_fails(flower, tmp_path):
    def check(port: int, auth: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "btfarm.orchestrator.cli",
                "flower",
                "--check",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=farm_env(flower["url"], BTFARM_FLOWER_BASIC_AUTH=auth),
            capture_output=True,
            text=True,
            timeout=30,
        )

    healthy = check(flower["port"], ":".join(AUTH))
    assert healthy.returncode == 0, healthy.stderr
    wrong = check(flower["port"], "farm:not-the-password")
    assert wrong.returncode == 1 and "answered 401" in wrong.stderr
    assert "not-the-password" not in wrong.stderr + wrong.stdout  # a credential is never echoed
    nobody = check(free_port(), ":".join(AUTH))
    assert nobody.returncode == 1 and "did not answer" in nobody.stderr
