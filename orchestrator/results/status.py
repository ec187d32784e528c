"""Where each variant of a sweep stands: one byte per variant in the tally, named here."""

from __future__ import annotations

from enum import IntEnum


class VariantStatus(IntEnum):
    """A variant's status byte (``SweepTally.status``, a numpy int8 array compared with these)."""

    PENDING = 0  # no record yet
    DONE = 1
    FAILED = 2
    STOPPED = 3  # the walker was stopped before it ran; no result, no progress

    @classmethod
    def of(cls, record_status: str) -> VariantStatus:
        """The status of a record's ``"status"`` field ("done", "failed", "stopped")."""
        return _BY_RECORD[record_status]


_BY_RECORD = {
    "done": VariantStatus.DONE,
    "failed": VariantStatus.FAILED,
    "stopped": VariantStatus.STOPPED,
}
NOT_RUN_STOPPED = (
    "not run: the walker was stopped"  # why a variant the stop came before has no record
)
