"""How a state-store client waits: connect timeout and per-command retries.

redis-py's default (10 retries with up to seconds of backoff) makes a call on
a server that is gone hang for seconds; a caller here would rather get the
error and decide (``StopPoller`` tries again later, a task retries).
"""

from __future__ import annotations

from redis.backoff import ExponentialBackoff
from redis.retry import Retry

CONNECT_TIMEOUT_SECONDS = 2.0  # per socket connect
RETRIES = 3  # per command, on a dropped connection
RETRY_BASE_SECONDS = 0.02  # first pause of those retries, doubled up to the cap
RETRY_CAP_SECONDS = 0.5  # longest pause between those retries


def command_retry() -> Retry:
    """Per-command retries for a dropped connection: a few, quickly."""
    return Retry(ExponentialBackoff(cap=RETRY_CAP_SECONDS, base=RETRY_BASE_SECONDS), RETRIES)
