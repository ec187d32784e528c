"""How a walker cuts its frame for walk-forward testing (``add_walker(..., walk_forward=...)``).

``{"train": "20d", "test": "5d", "step": "5d", "anchored": False}``: windows of
``train`` then ``test``, each ``step`` after the last (default: ``test``, so the
test windows tile the frame); anchored, every training window starts at the
frame's start and grows. Durations are a number and a unit: ``m`` minutes, ``h``
hours, ``d`` days, ``w`` weeks.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, field_validator

DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
MINUTE = timedelta(minutes=1)


def duration(text: str) -> timedelta:
    found = DURATION.match(str(text))
    if not found or int(found.group(1)) == 0:
        # protocol: a pydantic validator raises ValueError (registry.py makes it a SchemaError)
        raise ValueError(
            f"walk_forward duration {text!r} is not a positive number and a unit: write e.g. "
            "'90m', '12h', '20d' or '2w'"
        )
    return int(found.group(1)) * UNITS[found.group(2)]


class WalkForward(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    train: str
    test: str
    step: str | None = None  # default: test
    anchored: bool = False

    @field_validator("train", "test", "step")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration(value)
        return value

    def windows(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, datetime, datetime]]:
        """(train start, train end, test start, test end) of each window that fits in
        [start, end]; ends inclusive, to the minute (a frame's end is its last tick)."""
        train, test = duration(self.train), duration(self.test)
        step = duration(self.step) if self.step else test
        out: list[tuple[datetime, datetime, datetime, datetime]] = []
        offset = timedelta(0)
        while True:
            train_start = start if self.anchored else start + offset
            test_start = start + offset + train
            test_end = test_start + test - MINUTE
            if test_end > end:
                return out
            out.append((train_start, test_start - MINUTE, test_start, test_end))
            offset += step
