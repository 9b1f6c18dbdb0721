"""A recurring series: the rule, its zone, and how far it has advanced.

``last_occurrence_at`` is the anchor: the next instance is computed after it, so the
cost of a step does not depend on how old the series is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from taskpulse.contract import RecurrenceMode
from taskpulse.domain.errors import InvalidTransition


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    """COUNT or UNTIL is exhausted."""
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Series:
    id: str
    user_id: str
    rrule: str
    """The client's RRULE value; DTSTART is ``series_start`` in ``timezone``."""
    timezone: str
    series_start: datetime
    recurrence_mode: RecurrenceMode
    last_occurrence_at: datetime
    created_at: datetime
    updated_at: datetime
    status: SeriesStatus = SeriesStatus.ACTIVE
    version: int = 1

    @property
    def is_active(self) -> bool:
        return self.status is SeriesStatus.ACTIVE

    def advanced_to(self, occurrence_at: datetime, *, now: datetime) -> Series:
        if not self.is_active:
            raise InvalidTransition(f"series {self.id} is {self.status.value}")
        return replace(
            self, last_occurrence_at=occurrence_at, updated_at=now, version=self.version + 1
        )

    def ended(self, *, now: datetime) -> Series:
        return replace(self, status=SeriesStatus.ENDED, updated_at=now, version=self.version + 1)

    def cancelled(self, *, now: datetime) -> Series:
        if not self.is_active:
            raise InvalidTransition(f"series {self.id} is {self.status.value}")
        return replace(
            self, status=SeriesStatus.CANCELLED, updated_at=now, version=self.version + 1
        )
