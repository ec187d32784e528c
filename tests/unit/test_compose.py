"""docker-compose.yml: valid compose (``docker-compose config``), and the farm's shape."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV = {"FLOWER_BASIC_AUTH": "admin:secret", "REDIS_PASSWORD": "compose-pa55"}


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (.ci/run installs it)",
)
def test_docker_compose_config_accepts_the_file_and_requires_flower_auth():
    env = {**os.environ, **ENV}
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    env.pop("FLOWER_BASIC_AUTH")
    refused = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "FLOWER_BASIC_AUTH" in refused.stderr
    env = {**os.environ, **ENV}
    env.pop("REDIS_PASSWORD")
    refused = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "REDIS_PASSWORD" in refused.stderr


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (.ci/run installs it)",
)
def test_redis_requires_the_password_every_service_uses_and_flower_binds_loopback():
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["redis"]["command"][-2:] == ["--requirepass", "compose-pa55"]
    for name in ("worker", "beat", "flower", "live"):
        assert (
            services[name]["environment"]["BTFARM_REDIS_URL"]
            == "redis://:compose-pa55@redis:6379/0"
        )
    (port,) = services["flower"]["ports"]
    assert str(port).startswith("127.0.0.1:"), port  # compose 1.x writes "127.0.0.1:5555:5555/tcp"


def test_the_farm_services_have_the_documented_shape(config):
    services = config["services"]
    assert set(services) >= {"redis", "worker", "beat", "flower", "live"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["healthcheck"]["test"][-1] == "ping"
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker  # scalable with --scale
    assert worker["command"][0] == "worker" and "healthcheck" in worker
    assert services["beat"]["command"][0] == "beat" and services["beat"]["deploy"]["replicas"] == 1
    flower = services["flower"]
    assert flower["environment"]["BTFARM_FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    # no Flower page is open, so its health check signs in (tests/integration/test_flower_auth.py)
    assert flower["healthcheck"]["test"] == ["CMD", "btfarm", "flower", "--check", "--port", "5555"]
    assert flower["command"][flower["command"].index("--port") + 1] == "5555"
    assert services["live"]["command"][0] == "live"
    for name in ("worker", "beat", "flower", "live"):
        assert "farm-data:/data" in services[name]["volumes"]
        assert (
            services[name]["environment"]["BTFARM_REDIS_URL"]
            == "redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD}@redis:6379/0"
        )
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
