"""Yearly and monthly periods expanded once per kind of calendar, reused for every period.

The engine expands a YEARLY period once per kind of year (length, weekday of January 1st,
length of the year before) and a MONTHLY one once per kind of month, then shifts the
layout onto every later period of that kind. These tests walk long stretches of rules
whose days depend on exactly those facts, so that every kind is reused many times, and
compare each instance with dateutil expanding the same rule from DTSTART.
"""

from __future__ import annotations

from calendar import isleap
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import YEARLY, rrule, rrulestr

from taskpulse.recurrence import compile_rule, occurrences_after, remaining

# Rules whose instances move with the calendar: week numbers (first, last, 53rd), days
# counted from the end of the year or month, leap days, ordinals and BYSETPOS.
RULES = (
    "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO,SU",
    # Every day of week 53 named: without BYDAY the day would be DTSTART's weekday, which
    # dateutil (the oracle here) does not know (see test_recurrence_rfc_readings).
    "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO,TU,WE,TH,FR,SA,SU",
    "FREQ=YEARLY;BYWEEKNO=-1;BYDAY=TH;WKST=SU",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    "FREQ=YEARLY;BYYEARDAY=-1,60,366",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1;INTERVAL=3",
    "FREQ=YEARLY;BYDAY=-1SU,20MO",
    "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU;BYHOUR=1,2;BYMINUTE=30",
    "FREQ=YEARLY;BYDAY=FR;BYMONTHDAY=13",
    "FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
    "FREQ=MONTHLY;BYMONTHDAY=31,-31",
    "FREQ=MONTHLY;BYMONTHDAY=29;BYMONTH=2,3;INTERVAL=5",
    "FREQ=MONTHLY;BYDAY=5SA,1SU;BYHOUR=0,12",
    "FREQ=MONTHLY;INTERVAL=7;BYDAY=SU;BYSETPOS=1,-1",
)
YEARS = 60


def dateutil_instants(rule: str, start: datetime, zone: str, end: datetime) -> list[datetime]:
    """The oracle: dateutil from DTSTART, every wall time to UTC with fold=0."""
    tz = ZoneInfo(zone)
    walls = rrulestr(f"RRULE:{rule}", dtstart=start)
    instants = []
    for wall in walls:
        instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if instant > end:
            break
        instants.append(instant)
    return sorted(set(instants))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
@pytest.mark.parametrize("rule", RULES)
def test_every_instance_over_sixty_years_matches_dateutil(rule: str, zone: str) -> None:
    start = datetime(1996, 2, 29, 9, 0, 7)  # a leap day, with seconds
    text = f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}\nRRULE:{rule}"
    begin = datetime(1996, 1, 1, tzinfo=UTC)
    end = datetime(1996 + YEARS, 1, 1, tzinfo=UTC)
    expected = dateutil_instants(rule, start, zone, end)
    found = list(
        islice(
            (i for i in compile_rule(text).instants_after(begin) if i <= end),
            len(expected) + 1,
        )
    )
    assert found[: len(expected)] == expected
    assert len(expected) > 5  # the rule really occurs often enough to test anything


@pytest.mark.parametrize("rule", RULES)
def test_searches_in_any_order_agree_with_a_walk(rule: str) -> None:
    # Layouts are filled in the order periods are met: jumping around must not matter.
    text = f"DTSTART;TZID=Europe/Berlin:20000301T020000\nRRULE:{rule}"
    walked = occurrences_after(text, datetime(2000, 1, 1, tzinfo=UTC), limit=40)
    compile_rule.cache_clear()
    for instant, following in reversed(list(pairwise(walked))):
        assert occurrences_after(text, instant, limit=1) == [following]


@pytest.mark.parametrize("rule", RULES)
def test_count_is_exact_across_layouts(rule: str) -> None:
    text = f"DTSTART:20040101T000000Z\nRRULE:{rule};COUNT=25"
    walls = list(rrulestr(f"RRULE:{rule};COUNT=25", dtstart=datetime(2004, 1, 1)))
    instants = [wall.replace(tzinfo=UTC) for wall in walls]
    middle = instants[11]
    assert occurrences_after(text, middle, limit=100) == instants[12:]
    assert remaining(text, middle) == 13
    assert occurrences_after(text, instants[-1], limit=1) == []


def test_the_end_of_the_calendar_ends_the_series() -> None:
    text = "DTSTART:99961231T000000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO"
    last = occurrences_after(text, datetime(9996, 1, 1, tzinfo=UTC), limit=10)
    assert last, "some Mondays of week 1 lie before year 9999 ends"
    assert last[-1].year == 9999 or last[-1] + timedelta(days=366) > datetime.max.replace(
        tzinfo=UTC
    )
    assert occurrences_after(text, last[-1], limit=1) == []


@pytest.mark.parametrize("weeks", [(1,), (52,), (53,), (-1,), (-53, 2)])
def test_week_numbers_depend_only_on_the_kind_of_year(weeks: tuple[int, ...]) -> None:
    # The fact the yearly layouts rest on, checked over one whole 400-year cycle for every
    # WKST: the days BYWEEKNO picks in a year (those of last year's final week included)
    # follow from the year's length and the weekday of its January 1st.
    for wkst in range(7):
        layouts: dict[tuple[bool, int], set[tuple[int, ...]]] = {}
        for year in range(2001, 2401):
            first = datetime(year, 1, 1)
            days = rrule(
                YEARLY, dtstart=first, until=datetime(year, 12, 31), byweekno=weeks, wkst=wkst
            )
            kind = (isleap(year), first.weekday())
            layouts.setdefault(kind, set()).add(tuple((d - first).days for d in days))
        assert len(layouts) == 14
        assert all(len(found) == 1 for found in layouts.values()), (wkst, layouts)
