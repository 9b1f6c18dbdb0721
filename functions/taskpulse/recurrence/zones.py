"""IANA zones and the one mapping from local wall time to an instant.

Every local time the engine computes goes through :func:`to_utc`, so the DST policy lives
in exactly one place: ``fold=0`` reads a nonexistent wall time with the offset in force
before the gap (RFC 5545 section 3.3.5, so it lands ``gap`` later in real time) and an
ambiguous one as the first of the pair.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskpulse.recurrence.errors import RecurrenceError

__all__ = ["UTC", "max_offset_near", "to_utc", "to_wall", "validate_timezone", "wall_floor"]

# No zone has moved its clock by more than a day at once (Pacific/Apia skipped
# 2011-12-30), so looking this far back always spans at most one transition.
_TRANSITION_WINDOW = timedelta(hours=26)


_NOT_ZONES = frozenset({"localtime", "posixrules"})


@lru_cache(maxsize=512)
def validate_timezone(name: str) -> ZoneInfo:
    """Resolve an IANA zone name, or raise :class:`RecurrenceError` naming it."""
    # zoneinfo would also accept file-system paths and the tz folder's helper files
    # (localtime, posixrules); none of them is an IANA zone name.
    if not name or name.startswith(("/", ".")) or "\\" in name or name in _NOT_ZONES:
        raise RecurrenceError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RecurrenceError(f"unknown time zone {name!r}") from None


# Conversions go through these two epochs with timedelta arithmetic: a search converts a
# few times per call, and ``datetime.replace`` costs ten times what the arithmetic does.
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive local wall time: gaps shift forward, folds take the first."""
    if wall.fold:
        wall = wall.replace(fold=0)
    # For a naive time the zone reads the wall fields with fold=0: in a gap, the offset
    # before it; in a fold, the first one.
    offset = zone.utcoffset(wall)
    assert offset is not None
    return _UTC_EPOCH + (wall - offset - _NAIVE_EPOCH)


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall time (fold 0) of an aware instant."""
    return _local(instant, zone)[0]


def _local(instant: datetime, zone: ZoneInfo) -> tuple[datetime, timedelta]:
    """The naive wall time (fold 0) of an aware instant, and the UTC offset in force."""
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    # Arithmetic on a naive datetime always yields fold=0.
    return _NAIVE_EPOCH + (instant - _UTC_EPOCH) + offset, offset


def wall_floor(instant: datetime, zone: ZoneInfo) -> datetime:
    """The earliest wall time whose instant can lie after ``instant``.

    That is ``instant``'s own wall time, unless wall time jumped forward in the day before
    it: wall times inside that gap map, with the earlier offset, to instants up to the
    jump after the transition, so a search must start that much earlier in wall time.
    """
    wall, now = _local(instant, zone)
    # The offset a day of wall time earlier is the one before any gap that ``instant``
    # can be inside of (a wall time in the gap itself also reads the earlier offset).
    before = zone.utcoffset(wall - _TRANSITION_WINDOW)
    assert before is not None
    return wall if before >= now else wall - (now - before)


def max_offset_near(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The larger UTC offset in force in the day up to ``instant``."""
    now = instant.astimezone(zone).utcoffset()
    before = (instant - _TRANSITION_WINDOW).astimezone(zone).utcoffset()
    assert now is not None and before is not None
    return max(now, before)
