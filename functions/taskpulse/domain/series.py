"""A recurring series: the rule, its zone, and how far it has advanced.

``last_occurrence_at`` is the anchor: the next instance is computed after it, so the
cost of a step does not depend on how old the series is. Which instance comes next, how
many passed unseen, and when the series ends are decided here, from the rule alone; the
service only stores and announces the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from taskpulse.contract import RecurrenceMode
from taskpulse.domain.errors import InvalidTransition
from taskpulse.domain.tasks import Task

SKIP_LIMIT = 100_000
"""How many missed instances we count before we stop counting (the result stays exact)."""

EndReason = Literal["count", "until", "no-further-instance"]


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    """COUNT or UNTIL is exhausted."""
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Step:
    """Where a series goes from its anchor."""

    occurrence_at: datetime | None
    """The next occurrence to create; ``None``: nothing is left, the series ends."""
    skipped: int
    """Instances that passed before it: counted, never created (nobody wants a backlog
    of overdue copies)."""


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

    @classmethod
    def begun_by(cls, first: Task) -> Series:
        """The series a recurring task starts, anchored at that first occurrence."""
        if first.series_id is None or first.rrule is None or first.occurrence_at is None:
            raise InvalidTransition(f"task {first.id} does not start a series")
        return cls(
            id=first.series_id,
            user_id=first.user_id,
            rrule=first.rrule,
            timezone=first.timezone,
            series_start=first.occurrence_at,
            recurrence_mode=first.recurrence_mode,
            last_occurrence_at=first.occurrence_at,
            created_at=first.created_at,
            updated_at=first.created_at,
        )

    @property
    def is_active(self) -> bool:
        return self.status is SeriesStatus.ACTIVE

    @property
    def advances_on_completion(self) -> bool:
        """Closing an occurrence (completed or cancelled) brings the next one."""
        return self.is_active and self.recurrence_mode == RecurrenceMode.ON_COMPLETION

    def next_step(self, *, now: datetime, completed_at: datetime | None = None) -> Step:
        """The first instance after the anchor that is later than ``now`` and than the
        completion (a client's clock may run a little ahead of ours).

        Instances that already passed (a task completed late, a job that fired late) are
        skipped and counted. Past ``SKIP_LIMIT`` of them the count stops there, and the
        next instance is looked up directly after the later of the two times.
        """
        # Imported when a series steps, not when the domain loads: the functions that
        # never step one do not pay for the recurrence engine at a cold start.
        from taskpulse.recurrence import next_occurrence

        not_before = now if completed_at is None else max(completed_at, now)
        rule = self._rule_text()
        if rule is None:
            return Step(None, 0)
        candidate = next_occurrence(rule, self.last_occurrence_at, tz=self.timezone)
        skipped = 0
        while candidate is not None and candidate <= not_before and skipped < SKIP_LIMIT:
            skipped += 1
            candidate = next_occurrence(rule, candidate, tz=self.timezone)
        if candidate is not None and candidate <= not_before:
            candidate = next_occurrence(rule, not_before, tz=self.timezone)
        return Step(candidate, skipped)

    def _rule_text(self) -> str | None:
        """The stored rule with its DTSTART, or ``None`` when the engine no longer accepts
        it (a reading of RFC 5545 that changed, a zone gone from the tz database): such a
        series has no further instance, and ends rather than refuse every completion."""
        from taskpulse.recurrence import RecurrenceError, build_rule

        try:
            return build_rule(self.rrule, self.series_start, self.timezone)
        except RecurrenceError:
            return None

    @property
    def end_reason(self) -> EndReason:
        """Why a series with no next instance ended: its COUNT, its UNTIL, or neither
        (every instance left was excluded, or the rule no longer occurs at all)."""
        from taskpulse.recurrence.syntax import parse_rrule

        if self._rule_text() is None:
            return "no-further-instance"
        rule = parse_rrule(self.rrule)
        if rule.count is not None:
            return "count"
        if rule.until is not None:
            return "until"
        return "no-further-instance"

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
