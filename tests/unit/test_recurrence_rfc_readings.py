"""Readings of RFC 5545 that python-dateutil gets wrong or that the RFC leaves open.

Every expected instance here is worked out by hand from the RFC's text (section 3.3.10,
quoted where it decides), not from dateutil's output: dateutil shares the WEEKLY/BYSETPOS
bug, expands BYWEEKNO into whole weeks and intersects mixed BYDAY lists, so it cannot be
the oracle for these rules. Where the RFC leaves two readings open, the test pins the
policy that the docstring of ``taskpulse.recurrence`` and docs/recurrence.md state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskpulse.recurrence import (
    RecurrenceError,
    build_rule,
    next_occurrence,
    occurrences_after,
    remaining,
)

BERLIN = "DTSTART;TZID=Europe/Berlin:"  # UTC+1 in January: 10:15 local is 09:15Z


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def listed(
    rule: str, limit: int, *, after: str = "2000-01-01T00:00", tz: str | None = None
) -> list[str]:
    found = occurrences_after(rule, utc(after), limit=limit, tz=tz)
    return [instant.strftime("%Y-%m-%d %H:%M") for instant in found]


# -- 1. BYHOUR and BYMINUTE expand at DAILY, BYMINUTE at HOURLY --------------------------
# The table of section 3.3.10: at DAILY, BYHOUR and BYMINUTE are "Expand"; at HOURLY,
# BYMINUTE is. The minute (and second) a rule does not give come from DTSTART.


@pytest.mark.parametrize(
    ("rrule", "expected"),
    [
        # Twice a day at DTSTART's minute: 09:15 and 17:15 local; DTSTART (10:15) is not one.
        (
            "FREQ=DAILY;BYHOUR=9,17",
            ["2026-01-05 16:15", "2026-01-06 08:15", "2026-01-06 16:15", "2026-01-07 08:15"],
        ),
        # On the hour and half past, from the first one after DTSTART.
        (
            "FREQ=HOURLY;BYMINUTE=0,30",
            ["2026-01-05 09:30", "2026-01-05 10:00", "2026-01-05 10:30", "2026-01-05 11:00"],
        ),
        # Both parts expand: 09:00, 09:30, 17:00, 17:30 each day.
        (
            "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0,30",
            ["2026-01-05 16:00", "2026-01-05 16:30", "2026-01-06 08:00", "2026-01-06 08:30"],
        ),
        # BYSETPOS picks from the expanded day: the later of the two times.
        (
            "FREQ=DAILY;BYHOUR=9,17;BYSETPOS=-1",
            ["2026-01-05 16:15", "2026-01-06 16:15", "2026-01-07 16:15", "2026-01-08 16:15"],
        ),
        # Every other day, on weekdays only (Monday 5th, Wednesday 7th, Friday 9th...).
        (
            "FREQ=DAILY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;BYHOUR=8",
            ["2026-01-07 07:15", "2026-01-09 07:15", "2026-01-13 07:15", "2026-01-15 07:15"],
        ),
    ],
)
def test_finer_parts_expand_the_period(rrule: str, expected: list[str]) -> None:
    rule = f"{BERLIN}20260105T101500\nRRULE:{rrule}"
    assert listed(rule, len(expected)) == expected


def test_an_expanded_daily_rule_counts_each_time() -> None:
    rule = f"{BERLIN}20260105T101500\nRRULE:FREQ=DAILY;BYHOUR=9,17;COUNT=3"
    assert listed(rule, 4) == ["2026-01-05 16:15", "2026-01-06 08:15", "2026-01-06 16:15"]
    assert remaining(rule, utc("2026-01-05T16:15")) == 2


def test_a_task_may_store_an_expanded_rule() -> None:
    # The refusal reached users at create time: build_rule checks that the rule occurs.
    text = build_rule("FREQ=DAILY;BYHOUR=9,17", utc("2026-01-05T09:15"), "Europe/Berlin")
    assert next_occurrence(text, utc("2026-01-05T09:15")) == utc("2026-01-05T16:15")


def test_a_grid_that_misses_every_limiting_value_is_still_refused() -> None:
    # At HOURLY, BYHOUR limits: every other hour from 09:15 never meets 10:xx.
    rule = f"{BERLIN}20260105T091500\nRRULE:FREQ=HOURLY;INTERVAL=2;BYHOUR=10;BYMINUTE=0,30"
    with pytest.raises(RecurrenceError, match="never"):
        next_occurrence(rule, utc("2026-01-01T00:00"))
    # At DAILY, BYDAY limits: every 7th day from a Monday is never a Tuesday.
    rule = f"{BERLIN}20260105T091500\nRRULE:FREQ=DAILY;INTERVAL=7;BYDAY=TU;BYHOUR=9,17"
    with pytest.raises(RecurrenceError, match="never meets its BYDAY"):
        next_occurrence(rule, utc("2026-01-01T00:00"))


# -- 2. A DATE DTSTART ignores BYHOUR and BYMINUTE ---------------------------------------
# Section 3.3.10: "The BYSECOND, BYMINUTE and BYHOUR rule parts MUST NOT be specified when
# the associated "DTSTART" property has a DATE value type. These rule parts MUST be
# ignored in RRULE definitions that specify a DTSTART property with a DATE value type."


@pytest.mark.parametrize(
    ("rrule", "expected"),
    [
        ("FREQ=DAILY;BYHOUR=9;BYMINUTE=30", ["2026-01-04 23:00", "2026-01-05 23:00"]),
        ("FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9,17", ["2026-01-04 23:00", "2026-01-07 23:00"]),
        ("FREQ=DAILY;BYHOUR=9,17;COUNT=2", ["2026-01-04 23:00", "2026-01-05 23:00"]),
    ],
)
def test_a_date_dtstart_ignores_the_time_parts(rrule: str, expected: list[str]) -> None:
    for start in ("DTSTART;VALUE=DATE:20260105", "DTSTART:20260105"):
        rule = f"{start}\nRRULE:{rrule}"
        assert listed(rule, len(expected), tz="Europe/Berlin") == expected
    counted = "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=DAILY;BYHOUR=9,17;COUNT=2"
    assert next_occurrence(counted, utc("2026-01-05T23:00"), tz="Europe/Berlin") is None


def test_a_sub_daily_rule_from_a_date_keeps_its_time_parts() -> None:
    # An HOURLY rule has no dates to give: its BYHOUR still limits the hours.
    rule = "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=HOURLY;BYHOUR=9,10"
    assert listed(rule, 3) == ["2026-01-05 09:00", "2026-01-05 10:00", "2026-01-06 09:00"]


# -- 3. A WEEKLY set starts at the beginning of its week ---------------------------------
# Section 3.3.10: BYSETPOS "specifies ... the nth occurrence within the set of recurrence
# instances specified by the rule ... A set of recurrence instances starts at the
# beginning of the interval defined by the FREQ rule part". The week begins on WKST, so
# DTSTART's own week is counted from WKST, and instances before DTSTART are dropped.
# DTSTART below is Wednesday 2026-01-07 09:00Z.


@pytest.mark.parametrize(
    ("rrule", "expected"),
    [
        # Week of Monday 5th: {Mo 5, We 7, Fr 9}; the first is before DTSTART, so none.
        ("BYSETPOS=1", ["2026-01-12", "2026-01-19", "2026-01-26"]),
        # The second of that week is DTSTART itself (dateutil would say Friday 9th).
        ("BYSETPOS=2", ["2026-01-07", "2026-01-14", "2026-01-21"]),
        ("BYSETPOS=-1", ["2026-01-09", "2026-01-16", "2026-01-23"]),
        # Weeks from Sunday: {Mo 5, We 7, Fr 9} again, the same answer as from Monday.
        ("BYSETPOS=1;WKST=SU", ["2026-01-12", "2026-01-19", "2026-01-26"]),
        # Weeks from Wednesday: {We 7, Fr 9, Mo 12}: the first is DTSTART.
        ("BYSETPOS=1;WKST=WE", ["2026-01-07", "2026-01-14", "2026-01-21"]),
        ("BYSETPOS=1;COUNT=2", ["2026-01-12", "2026-01-19"]),
    ],
)
def test_weekly_positions_count_from_the_start_of_the_week(rrule: str, expected: list[str]) -> None:
    rule = f"DTSTART:20260107T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;{rrule}"
    assert listed(rule, 3) == [f"{day} 09:00" for day in expected]
    # Cold queries from inside the first week agree with the walk.
    assert next_occurrence(rule, utc("2026-01-06T00:00")) == utc(f"{expected[0]}T09:00")


def test_weekly_positions_over_an_expanded_week_with_hours() -> None:
    # Mondays and Fridays at 08:00 and 18:00; the last time of each week is Friday 18:00.
    rule = "DTSTART:20260107T080000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=8,18;BYSETPOS=2"
    # Week of the 5th: {Mo 08, Mo 18, Fr 08, Fr 18}: the 2nd (Monday 18:00) is before DTSTART.
    assert listed(rule, 2) == ["2026-01-12 18:00", "2026-01-19 18:00"]


# -- 4. BYWEEKNO without a day takes DTSTART's weekday ------------------------------------
# Section 3.3.10: "Information, not contained in the rule, necessary to determine the
# various recurrence instance start time and dates are derived from the Start Time
# ("DTSTART") component attribute. For example, "FREQ=YEARLY;BYMONTH=1" doesn't specify a
# specific day within the month or a time. This information would be the same as what is
# specified for "DTSTART"." A week number names a week, not a day.


def test_a_week_number_without_a_day_takes_dtstarts_weekday() -> None:
    # DTSTART is a Wednesday. ISO week 20 begins Monday 2026-05-11, 2027-05-17, 2028-05-15.
    rule = "DTSTART:20260107T090000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=20"
    assert listed(rule, 3) == ["2026-05-13 09:00", "2027-05-19 09:00", "2028-05-17 09:00"]


def test_a_week_number_with_a_day_part_keeps_it() -> None:
    rule = "DTSTART:20260107T090000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO,FR"
    assert listed(rule, 2) == ["2026-05-11 09:00", "2026-05-15 09:00"]
    # BYMONTHDAY names the day too: the 13th when it lies in week 20 (Wednesday 2026-05-13).
    rule = "DTSTART:20260107T090000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=20;BYMONTHDAY=13"
    assert listed(rule, 1) == ["2026-05-13 09:00"]


# -- 5. A BYDAY list may mix ordinals and plain weekdays ---------------------------------
# BYDAY is a list: "BYDAY=3MO,WE,FR" is the third Monday or any Wednesday or Friday.
# (ical.js's recur_iterator_test has this case; dateutil intersects the two kinds.)


def test_mixed_byday_is_the_union() -> None:
    rule = "DTSTART:20150102T080000Z\nRRULE:FREQ=MONTHLY;BYDAY=3MO,WE,FR"
    assert listed(rule, 8) == [f"2015-01-{day:02d} 08:00" for day in (2, 7, 9, 14, 16, 19, 21, 23)]
    # An ordinal that the plain weekday already covers changes nothing.
    rule = "DTSTART:20150102T080000Z\nRRULE:FREQ=MONTHLY;BYDAY=1MO,MO,FR"
    assert listed(rule, 5) == [f"2015-01-{day:02d} 08:00" for day in (2, 5, 9, 12, 16)]
    # At YEARLY the ordinal counts within the year: the 2nd Monday of 2015 is Jan 12th.
    rule = "DTSTART:20150102T080000Z\nRRULE:FREQ=YEARLY;BYDAY=2MO,SA;COUNT=4"
    assert listed(rule, 5) == [f"2015-01-{day:02d} 08:00" for day in (3, 10, 12, 17)]


# -- Policies where the RFC leaves two readings open -------------------------------------


def test_policy_yearly_bymonthday_without_bymonth_means_every_month() -> None:
    # The 3.3.10 table marks BYMONTHDAY "Expand" at YEARLY, and nothing limits it to one
    # month, so the 15th of every month (python-dateutil and rrule.js agree; ical.js and
    # libical keep DTSTART's month). A user who wants one month writes BYMONTH.
    rule = "DTSTART:20140430T080000Z\nRRULE:FREQ=YEARLY;BYMONTHDAY=-1"
    assert listed(rule, 3) == ["2014-04-30 08:00", "2014-05-31 08:00", "2014-06-30 08:00"]
    once_a_year = "DTSTART:20140430T080000Z\nRRULE:FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=-1"
    assert listed(once_a_year, 2) == ["2014-04-30 08:00", "2015-04-30 08:00"]


def test_policy_byweekno_interval_counts_calendar_years() -> None:
    # The YEARLY period is the calendar year: INTERVAL=2 takes every other calendar year,
    # and each takes the days of the listed ISO weeks that fall inside it. Week 1 of 2025
    # runs from Monday 2024-12-30 to Sunday 2025-01-05: its Monday and Tuesday belong to
    # the period 2024, its other days to 2025, which INTERVAL=2 skips. (Counting INTERVAL
    # in ISO week-numbering years would take that whole week or none of it.)
    rule = "DTSTART:20240101T090000Z\nRRULE:FREQ=YEARLY;INTERVAL=2;BYWEEKNO=1;BYDAY=MO,TU,WE"
    assert listed(rule, 6) == [
        "2024-01-01 09:00",
        "2024-01-02 09:00",
        "2024-01-03 09:00",
        "2024-12-30 09:00",
        "2024-12-31 09:00",
        # 2026 has none: its part of week 1 is Thursday 1st to Sunday 4th.
        "2028-01-03 09:00",
    ]


def test_rules_that_truly_never_occur_are_refused_quickly() -> None:
    rule = "DTSTART:20260107T090000Z\nRRULE:FREQ=DAILY;BYMONTHDAY=31;BYMONTH=2"
    with pytest.raises(RecurrenceError, match="BYMONTHDAY=31 never occurs in BYMONTH=2"):
        next_occurrence(rule, utc("2026-01-01T00:00"))
    start = datetime.now(UTC)
    with pytest.raises(RecurrenceError, match="never"):
        next_occurrence(
            "DTSTART:20260105T090000Z\nRRULE:FREQ=YEARLY;BYWEEKNO=1;BYMONTH=6",
            utc("2026-01-01T00:00"),
        )
    assert datetime.now(UTC) - start < timedelta(seconds=3)
