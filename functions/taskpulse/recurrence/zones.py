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

__all__ = ["UTC", "backward_jump", "max_offset_near", "to_utc", "to_wall", "validate_timezone"]

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


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive local wall time: gaps shift forward, folds take the first."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall time of an aware instant."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def backward_jump(instant: datetime, zone: ZoneInfo) -> timedelta:
    """How far wall time jumped forward in the day before ``instant`` (zero if it did not).

    Wall times inside that gap map, with the earlier offset, to instants up to the jump
    after the transition, so a search for instances after ``instant`` must start this much
    earlier in wall time.
    """
    now = instant.utcoffset() if instant.tzinfo is zone else instant.astimezone(zone).utcoffset()
    before = (instant - _TRANSITION_WINDOW).astimezone(zone).utcoffset()
    assert now is not None and before is not None
    return max(now - before, timedelta(0))


def max_offset_near(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The larger UTC offset in force in the day up to ``instant``."""
    now = instant.astimezone(zone).utcoffset()
    before = (instant - _TRANSITION_WINDOW).astimezone(zone).utcoffset()
    assert now is not None and before is not None
    return max(now, before)
