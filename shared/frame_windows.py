"""Frames that are windows of a registered frame, named by their range:
``jan[2025-01-02T00:00,2025-01-21T23:59]`` is frame ``jan`` from the first minute to the
second, both included.

A walk-forward walker runs its windows as frames like these; every process that
has ``jan`` registered (a worker that imported the user's module) has its windows
too, without anyone registering them. A window must lie inside its frame.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import ConfigError
from .schemas import FrameSchema, to_utc

if TYPE_CHECKING:
    from .registry import Registry

WINDOW = re.compile(
    r"^(?P<base>.+)\[(?P<start>\d{4}-\d\d-\d\dT\d\d:\d\d),(?P<end>\d{4}-\d\d-\d\dT\d\d:\d\d)\]$"
)
STAMP = "%Y-%m-%dT%H:%M"


def window_name(base: str, start: datetime, end: datetime) -> str:
    return f"{base}[{start.strftime(STAMP)},{end.strftime(STAMP)}]"


def window_of(registry: Registry, name: str, needed_by: str) -> FrameSchema | None:
    """The window ``name`` names, of a frame ``registry`` has; None when it names none."""
    found = WINDOW.match(name) if isinstance(name, str) else None
    if found is None:
        return None
    base: FrameSchema = registry.get("frame", found["base"], needed_by)
    start, end = to_utc(found["start"] + "Z"), to_utc(found["end"] + "Z")
    if start > end or start < base.start_date or end > base.end_date:
        raise ConfigError(
            f"frame {name!r} (needed by {needed_by}) is not a window of frame {base.frame_name!r}, "
            f"{base.start_date.isoformat()} .. {base.end_date.isoformat()}: its range must lie inside"
        )
    return base.model_copy(update={"frame_name": name, "start_date": start, "end_date": end})
