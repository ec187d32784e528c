"""workers/app.py and workers/startup.py: the resource limits a worker runs under."""

from __future__ import annotations

import subprocess
import sys

import pytest

from btfarm.shared.settings import Settings
from btfarm.workers.app import _conf

pytestmark = pytest.mark.unit


def test_limits_and_wire_format_come_from_the_settings():
    settings = Settings.from_env(
        {
            "BTFARM_TASK_SOFT_TIME_LIMIT": "3",
            "BTFARM_TASK_TIME_LIMIT": "6",
            "BTFARM_WORKER_MAX_MEMORY_MB": "600",
        }
    )
    conf = _conf(settings, ("redis://h:1/0", "redis://h:1/0"))
    assert conf["task_soft_time_limit"] == 3 and conf["task_time_limit"] == 6
    assert conf["worker_max_memory_per_child"] == 600 * 1024  # KiB
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1


def test_cap_memory_turns_unbounded_allocation_into_a_memory_error():
    code = (
        "from btfarm.workers.startup import cap_memory\n"
        "cap_memory(300)\n"
        "blocks = []\n"
        "try:\n"
        "    while True:\n"
        "        blocks.append(bytearray(16 << 20))\n"
        "except MemoryError:\n"
        "    print('MemoryError after', len(blocks) * 16, 'MB')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MemoryError after") and int(done.stdout.split()[2]) < 300
