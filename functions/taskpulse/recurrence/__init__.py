"""RFC 5545 recurrence: the next occurrence of a rule, in IANA time zones, in UTC.

Public API (docs/contract.md#1-recurrence-api-python)::

    from taskpulse.recurrence import next_occurrence, RecurrenceError
    next_occurrence(rule, after, *, tz=None) -> datetime | None

plus the helpers the functions need: :func:`build_rule` (stored rule text from a create
command), :func:`validate_rrule`, :func:`validate_timezone`, :func:`first_occurrence`,
:func:`occurrences_after` and :func:`remaining`.

Semantics
---------
* Instances are RFC 5545's (sections 3.3.10 and 3.8.5.3) over *local wall times* from
  DTSTART, expanded with python-dateutil's ``rrule`` where it reads the RFC right:
  DTSTART is an instance only when it matches the rule; invalid dates (Feb 30) are
  skipped; what the rule does not give comes from DTSTART (the time of day, the weekday
  of a WEEKLY rule or of a YEARLY rule by week number, the day of a MONTHLY rule).
* Parts expand or limit as the 3.3.10 table says: at DAILY, BYHOUR and BYMINUTE expand
  (``FREQ=DAILY;BYHOUR=9,17`` is twice a day at DTSTART's minute), at HOURLY, BYMINUTE.
* Where dateutil departs from the RFC, the engine does not: a DATE DTSTART ignores
  BYHOUR and BYMINUTE; a WEEKLY set counts BYSETPOS from the week's WKST day, not from
  DTSTART; a BYDAY list mixing ordinals and plain days (``3MO,WE,FR``) is their union.
* Two readings the RFC leaves open, as policy: ``FREQ=YEARLY;BYMONTHDAY=n`` without
  BYMONTH is the n-th of every month (the table's "Expand"; write BYMONTH for one month),
  and ``FREQ=YEARLY;BYWEEKNO`` counts INTERVAL in calendar years, each taking the days of
  the listed ISO weeks that fall inside it (a week across New Year is split between two
  years). docs/recurrence.md explains each reading with its test.
* A floating or date-only DTSTART is wall time in ``tz`` (default ``UTC``); a ``Z`` DTSTART
  is wall time in UTC. UNTIL, EXDATE without TZID and date-only values are read in the
  rule's zone; ``Z`` values are instants.
* COUNT counts instances as generated, before EXDATE removes any (RFC 5545 section
  3.8.5.3: the set is generated, then EXDATE values are excluded), so an excluded
  instance still uses up one of COUNT. UNTIL is inclusive and compared as an instant.
  COUNT together with UNTIL is refused, as the RFC says.
* ``next_occurrence`` returns the earliest instant strictly after ``after``; two wall times
  that land on one instant (see below) are one occurrence.

DST policy
----------
Every wall time becomes an instant with ``zoneinfo`` and ``fold=0``:

* a wall time that does not exist (spring-forward gap) is read with the UTC offset in
  force before the gap, so it moves forward by the length of the gap: 02:30 on New York's
  spring-forward day is 03:30 EDT, 02:15 on Lord Howe's is 02:45 (a 30-minute gap), and a
  day Pacific/Apia skipped (2011-12-30) moves to the next day at the same time;
* a wall time that occurs twice (fall-back) is the first of the two (the daylight one).

This is RFC 5545 section 3.3.5's reading, the instant python-dateutil's own output denotes,
and what Google Calendar does; it deliberately does not follow section 3.3.10's "MUST be
ignored", because a task that silently skips a day once a year is worse than one an hour
late. Rules step in wall-clock time, so sub-daily series follow the clock too: on a
spring-forward day 02:30 and 03:30 are one instant and one occurrence; on a fall-back day
an HOURLY series has 01:00 once (the first) and nothing in the repeated hour.

Cost
----
A call does not walk from DTSTART: the search restarts dateutil at the grid period that
holds ``after`` (see :mod:`taskpulse.recurrence.engine`), so a ten-year-old 15-minute
series costs what a new one does. Yearly and monthly periods are laid out once per kind
of year or month (at most 14 kinds of year) and shifted onto every other period of that
kind, so those searches do no calendar expansion at all. With COUNT the anchor's index
is computed arithmetically for rules with the same number of instances in every period;
other COUNT rules walk at most COUNT instances once per process and keep checkpoints. A
compiled rule also keeps the consecutive instants it found last, so asking again, or for
the one after, is a lookup.

Errors
------
:class:`RecurrenceError` (a ``ValueError``) names the offending part: malformed text,
unknown zones, out-of-range values, FREQ=SECONDLY or BYSECOND (the smallest step of a task
is a minute), a naive ``after``, and rules that can never produce an instance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from taskpulse.recurrence.engine import CompiledRule
from taskpulse.recurrence.errors import RecurrenceError
from taskpulse.recurrence.syntax import parse_rrule, parse_series
from taskpulse.recurrence.zones import UTC, to_utc, to_wall, validate_timezone

__all__ = [
    "RecurrenceError",
    "build_rule",
    "compile_rule",
    "first_occurrence",
    "next_occurrence",
    "occurrences_after",
    "remaining",
    "validate_rrule",
    "validate_timezone",
]

_DEFAULT_ZONE = "UTC"
# Wall times within a day after the first may map to earlier instants (a gap's end), so
# the first occurrence is searched from this far before the first wall time's instant.
_BEFORE_FIRST = timedelta(days=2)


def next_occurrence(rule: str, after: datetime, *, tz: str | None = None) -> datetime | None:
    """The first occurrence strictly after ``after``, in UTC, or ``None`` once the series ended.

    ``rule`` is RFC 5545 text (DTSTART, RRULE, optional EXDATE lines); ``tz`` is the zone
    of a floating or date-only DTSTART. Raises :class:`RecurrenceError` for a naive
    ``after`` or a rule it cannot accept.
    """
    return compile_rule(rule, tz).next_after(_aware("after", after))


def first_occurrence(rule: str, *, tz: str | None = None) -> datetime | None:
    """The series' first occurrence (DTSTART itself only if it matches the rule)."""
    series = compile_rule(rule, tz)
    return series.next_after(to_utc(series.first_wall, series.spec.zone) - _BEFORE_FIRST)


def occurrences_after(
    rule: str, after: datetime, *, limit: int, tz: str | None = None
) -> list[datetime]:
    """Up to ``limit`` occurrences strictly after ``after``, ascending, in UTC."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    found: list[datetime] = []
    if limit == 0:
        return found
    for instant in compile_rule(rule, tz).instants_after(_aware("after", after)):
        found.append(instant)
        if len(found) == limit:
            break
    return found


def remaining(rule: str, after: datetime, *, tz: str | None = None) -> int | None:
    """How many occurrences remain strictly after ``after``; ``None`` without COUNT.

    Excluded (EXDATE) instances are not occurrences, so they are not counted. The cost is
    at most COUNT instances.
    """
    return compile_rule(rule, tz).remaining_after(_aware("after", after))


def validate_rrule(rrule: str) -> None:
    """Check an RRULE value (``FREQ=WEEKLY;BYDAY=FR``, ``RRULE:`` prefix optional).

    Catches what can be judged without DTSTART; :func:`build_rule` also checks that the
    rule produces an instance from its start.
    """
    parse_rrule(rrule)


def build_rule(rrule: str, due_at: datetime, timezone: str) -> str:
    """The stored rule text of a recurring task: DTSTART at ``due_at`` in ``timezone``.

    ``rrule`` is the client's RRULE value; the DTSTART line carries the IANA zone and the
    local wall time of ``due_at``, so the series follows the zone's future DST changes.
    Raises :class:`RecurrenceError` if anything is invalid or the rule can never occur.
    """
    zone = validate_timezone(timezone)
    wall = to_wall(_aware("due_at", due_at), zone)
    value = rrule.strip()
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:") :]
    parse_rrule(value)
    text = f"DTSTART;TZID={timezone}:{wall:%Y%m%dT%H%M%S}\nRRULE:{value.upper()}"
    compile_rule(text, None)
    return text


@lru_cache(maxsize=1024)
def compile_rule(rule: str, tz: str | None = None) -> CompiledRule:
    """Parse and check a rule text once; the result answers any number of queries."""
    if tz is not None:
        validate_timezone(tz)
    return CompiledRule(parse_series(rule, tz or _DEFAULT_ZONE))


def _aware(name: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise RecurrenceError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecurrenceError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
