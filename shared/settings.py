"""Process settings, read once from ``BTFARM_*`` environment variables.

A misspelt variable fails at start-up with the list of known names, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import SettingsError, did_you_mean

PREFIX = "BTFARM_"
TRUE = frozenset({"1", "true", "yes", "on"})  # the spellings a boolean variable accepts
FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None  # BTFARM_REDIS_URL: broker, results and state; None = embedded
    broker_url: str | None = None  # BTFARM_BROKER_URL: overrides redis_url for Celery's broker
    result_backend_url: str | None = None  # BTFARM_RESULT_BACKEND_URL: overrides it for results
    state_url: str | None = None  # BTFARM_STATE_URL: overrides it for the state store
    state_dir: Path = field(
        default_factory=lambda: Path(".btfarm")
    )  # BTFARM_STATE_DIR: embedded Redis, live files
    dump_dir: Path = field(default_factory=lambda: Path("dump"))  # BTFARM_DUMP_DIR: reports
    imports: tuple[str, ...] = ()  # BTFARM_IMPORTS: comma-separated user modules for workers
    task_soft_time_limit: float = (
        600.0  # BTFARM_TASK_SOFT_TIME_LIMIT: seconds per task before SoftTimeLimitExceeded
    )
    task_time_limit: float = (
        660.0  # BTFARM_TASK_TIME_LIMIT: seconds per task before the child is killed
    )
    worker_max_memory_mb: int = (
        1024  # BTFARM_WORKER_MAX_MEMORY_MB: a worker child above this is replaced
    )
    task_max_retries: int = 2  # BTFARM_TASK_MAX_RETRIES: worker deaths (or Redis-lost retries) of a variant before it is marked failed
    sweep_idle_timeout: float = 0.0  # BTFARM_SWEEP_IDLE_TIMEOUT: seconds without any result before a sweep ends as interrupted; 0 = task time limit + 60
    worker_wait_seconds: float = 20.0  # BTFARM_WORKER_WAIT_SECONDS: how long a farm sweep goes on with no live worker that runs its code (none started yet, all died, or all run other code) before it ends as interrupted; a worker restarting within it is waited for
    store_outage_seconds: float = 30.0  # BTFARM_STORE_OUTAGE_SECONDS: how long the walker retries a lost Redis before it gives up
    chunk_size: int = 0  # BTFARM_CHUNK_SIZE: variants per task; 0 = chosen from the work size
    native: bool = True  # BTFARM_NATIVE: sweep variants run the C batch loop when it is built
    local_workers: int = 0  # BTFARM_LOCAL_WORKERS: embedded pool size; 0 = one per core
    stop_check_seconds: float = (
        0.2  # BTFARM_STOP_CHECK_SECONDS: how often a run polls its stop flag
    )
    flower_port: int = 5555  # BTFARM_FLOWER_PORT
    flower_basic_auth: str | None = None  # BTFARM_FLOWER_BASIC_AUTH: "user:password"
    schedule_file: Path = field(
        default_factory=lambda: Path("btfarm-schedule.toml")
    )  # BTFARM_SCHEDULE_FILE
    max_gap_minutes: int = 0  # BTFARM_MAX_GAP_MINUTES: a gap in the candles longer than this is an error; 0 = shown only
    local_worker_start_seconds: float = 60.0  # BTFARM_LOCAL_WORKER_START_SECONDS: the embedded default's worker must announce itself within this
    parent_pid: int = (
        0  # BTFARM_PARENT_PID: set by the local pool; its worker stops once that process is gone
    )
    candle_cache_dir: str | None = (
        None  # BTFARM_CANDLE_CACHE_DIR: downloaded candles (Parquet per month); None = STATE_DIR/candles
    )
    parsed_cache: bool = True  # BTFARM_PARSED_CACHE: keep each CSV or Parquet candle file's table under STATE_DIR/parsed
    fetch_retries: int = 5  # BTFARM_FETCH_RETRIES: tries of one exchange request (network errors, 429, 5xx) before a clear error
    live_max_candle_age_seconds: float = 180.0  # BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS: a live tick whose newest closed 1m candle closed longer than this before the tick's minute (more than 3 candles missing) asks for no new signal; 0 = never refuse

    @property
    def candle_cache(self) -> Path:
        """Where ``ccxt_exchange`` keeps downloaded candles (a shared folder serves a farm)."""
        return (
            Path(self.candle_cache_dir).expanduser()
            if self.candle_cache_dir
            else self.state_dir / "candles"
        )

    @property
    def embedded(self) -> bool:
        """True when no URL is set and btfarm runs its own private Redis."""
        return not (self.redis_url or self.state_url or self.broker_url)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in env.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX) :].lower()
            if name not in known:
                names = [PREFIX + k.upper() for k in known]
                raise SettingsError(
                    f"unknown environment variable {key}."
                    + did_you_mean(key, names)
                    + f" Unset it or use a known name: {', '.join(names)}"
                )
            values[name] = _parse(key, raw, known[name].default, known[name].default_factory)
        return cls(**values)


def _parse(key: str, raw: str, default, default_factory) -> object:
    sample = default_factory() if callable(default_factory) else default
    try:
        if isinstance(sample, Path):
            return Path(raw).expanduser()
        if isinstance(sample, tuple):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if isinstance(sample, bool):
            word = raw.strip().lower()
            if word not in TRUE | FALSE:  # "flase" must not quietly mean false
                raise SettingsError(
                    f"{key}={raw!r} is not a boolean; use one of "
                    f"{', '.join(sorted(TRUE))} or {', '.join(sorted(FALSE))}"
                )
            return word in TRUE
        if isinstance(sample, int):
            return int(raw)
        if isinstance(sample, float):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r} is not a valid {type(sample).__name__}") from None
    return raw or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings.from_env()


def reload_settings() -> Settings:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
    return get_settings()


def redact_url(url: str | None) -> str:
    """The URL with any password replaced by ***, for logs and reports."""
    if not url:
        return "embedded"
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if user else f"***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
