"""The public API: rule forms, COUNT/UNTIL/EXDATE, helpers, and refusals."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from taskpulse.recurrence import (
    RecurrenceError,
    build_rule,
    compile_rule,
    first_occurrence,
    next_occurrence,
    occurrences_after,
    remaining,
    validate_rrule,
    validate_timezone,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- rule forms -------------------------------------------------------------------------


def test_floating_dtstart_is_local_time_in_tz() -> None:
    rule = "DTSTART:20260101T090000\nRRULE:FREQ=DAILY"
    assert next_occurrence(rule, utc("2026-07-01T00:00"), tz="Europe/Berlin") == utc(
        "2026-07-01T07:00"
    )
    assert next_occurrence(rule, utc("2026-07-01T00:00")) == utc("2026-07-01T09:00")


def test_date_only_dtstart_is_local_midnight_in_tz() -> None:
    rule = "DTSTART:20260101\nRRULE:FREQ=DAILY"
    assert next_occurrence(rule, utc("2026-01-01T00:00"), tz="Europe/Berlin") == utc(
        "2026-01-01T23:00"
    )
    assert next_occurrence(
        "DTSTART;VALUE=DATE:20260101\nRRULE:FREQ=DAILY", utc("2026-01-01T00:00")
    ) == utc("2026-01-02T00:00")


def test_utc_dtstart_ignores_tz() -> None:
    rule = "DTSTART:20260101T090000Z\r\nRRULE:FREQ=DAILY\r\n"
    assert next_occurrence(rule, utc("2026-07-01T00:00"), tz="Asia/Tokyo") == utc(
        "2026-07-01T09:00"
    )


def test_dtstart_counts_only_when_it_matches() -> None:
    # 2026-11-24 is a Tuesday; the rule wants Fridays.
    rule = "DTSTART;TZID=Europe/Berlin:20261124T090000\nRRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=2"
    assert first_occurrence(rule) == utc("2026-11-27T08:00")
    assert occurrences_after(rule, utc("2026-01-01T00:00"), limit=5) == [
        utc("2026-11-27T08:00"),
        utc("2026-12-04T08:00"),
    ]


def test_trailing_semicolons_are_tolerated() -> None:
    validate_rrule("FREQ=WEEKLY;BYDAY=WE;")
    rule = "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;;COUNT=1;"
    assert next_occurrence(rule, utc("2026-01-01T00:00")) == utc("2026-01-05T09:00")


def test_case_folding_and_plus_ordinals() -> None:
    rule = "dtstart;tzid=Europe/Berlin:20260101T090000\nrrule:freq=monthly;byday=+1mo"
    assert next_occurrence(rule, utc("2026-01-01T00:00")) == utc("2026-01-05T08:00")


# -- COUNT, UNTIL, EXDATE ---------------------------------------------------------------


def test_exdate_removes_after_count_is_applied() -> None:
    rule = (
        "DTSTART;TZID=America/New_York:20260105T090000\n"
        "RRULE:FREQ=DAILY;COUNT=3\n"
        "EXDATE;TZID=America/New_York:20260106T090000"
    )
    found = occurrences_after(rule, utc("2026-01-01T00:00"), limit=10)
    assert found == [utc("2026-01-05T14:00"), utc("2026-01-07T14:00")]
    assert remaining(rule, utc("2026-01-01T00:00")) == 2


def test_exdate_forms() -> None:
    rule = (
        "DTSTART;TZID=Europe/Berlin:20260105T090000\n"
        "RRULE:FREQ=DAILY;COUNT=6\n"
        "EXDATE:20260105T080000Z,20260106T080000Z\n"
        "EXDATE;VALUE=DATE:20260107\n"
        "EXDATE;TZID=Asia/Tokyo:20260108T170000"
    )
    # A date-only EXDATE is local midnight, so it does not remove 09:00 on that day.
    assert occurrences_after(rule, utc("2026-01-01T00:00"), limit=10) == [
        utc("2026-01-07T08:00"),
        utc("2026-01-09T08:00"),
        utc("2026-01-10T08:00"),
    ]


def test_date_only_exdate_removes_a_date_only_instance() -> None:
    rule = "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE;VALUE=DATE:20260106"
    assert occurrences_after(rule, utc("2026-01-01T00:00"), limit=5) == [
        utc("2026-01-05T00:00"),
        utc("2026-01-07T00:00"),
    ]


def test_every_remaining_instance_excluded_ends_the_series() -> None:
    rule = (
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT=2\n"
        "EXDATE:20260105T090000Z\nEXDATE:20260106T090000Z"
    )
    assert next_occurrence(rule, utc("2026-01-01T00:00")) is None


def test_until_is_inclusive_and_local_until_reads_in_the_zone() -> None:
    zulu = "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY;UNTIL=20260107T080000Z"
    local = "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=DAILY;UNTIL=20260107T090000"
    for rule in (zulu, local):
        assert next_occurrence(rule, utc("2026-01-06T08:00")) == utc("2026-01-07T08:00")
        assert next_occurrence(rule, utc("2026-01-07T08:00")) is None
    assert remaining(zulu, utc("2026-01-01T00:00")) is None


def test_count_is_exact_far_into_an_old_series() -> None:
    # Uniform rule: the index is arithmetic.
    rule = "DTSTART:20160101T000000Z\nRRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=350000"
    last = utc("2016-01-01T00:00") + timedelta(minutes=15 * 349_999)
    assert next_occurrence(rule, last - timedelta(minutes=1)) == last
    assert next_occurrence(rule, last) is None
    assert remaining(rule, last - timedelta(minutes=16)) == 2
    # Non-uniform rule: the index is walked once (at most COUNT instances).
    monthly = (
        "DTSTART;TZID=America/New_York:20160101T090000\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=120"
    )
    found = occurrences_after(monthly, utc("2025-11-01T00:00"), limit=5)
    assert found == [utc("2025-11-28T14:00"), utc("2025-12-26T14:00")]


def test_cost_does_not_grow_with_series_age() -> None:
    after = utc("2026-11-27T03:31")

    def per_call(start: str) -> float:
        rule = f"DTSTART;TZID=America/New_York:{start}\nRRULE:FREQ=MINUTELY;INTERVAL=15"
        next_occurrence(rule, after)
        began = time.perf_counter()
        for _ in range(50):
            next_occurrence(rule, after)
        return (time.perf_counter() - began) / 50

    old, new = per_call("20160101T000000"), per_call("20261126T000000")
    assert old < max(new * 5, 0.002)


# -- helpers ----------------------------------------------------------------------------


def test_build_rule_stores_the_local_due_time_and_zone() -> None:
    due = datetime.fromisoformat("2026-03-06T14:30:00+00:00")
    text = build_rule("FREQ=WEEKLY;BYDAY=FR", due, "America/New_York")
    assert text == "DTSTART;TZID=America/New_York:20260306T093000\nRRULE:FREQ=WEEKLY;BYDAY=FR"
    # The series keeps 09:30 local across the DST change on 2026-03-08.
    assert next_occurrence(text, due) == utc("2026-03-13T13:30")
    assert build_rule("RRULE:freq=daily", due, "UTC").endswith("RRULE:FREQ=DAILY")


@pytest.mark.parametrize(
    ("rrule", "due_at", "zone", "message"),
    [
        (
            "FREQ=DAILY",
            "2026-01-01T09:00:00+00:00",
            "Mars/Olympus",
            "unknown time zone 'Mars/Olympus'",
        ),
        ("FREQ=DAILY", "2026-01-01T09:00:00", "UTC", "due_at must be timezone-aware"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=30;BYMONTH=2",
            "2026-01-01T09:00:00+00:00",
            "UTC",
            "BYMONTHDAY=30",
        ),
        ("FREQ=YEARLY;BYWEEKNO=1;BYMONTH=6", "2026-01-01T09:00:00+00:00", "UTC", "never"),
    ],
)
def test_build_rule_refuses(rrule: str, due_at: str, zone: str, message: str) -> None:
    with pytest.raises(RecurrenceError, match=message):
        build_rule(rrule, datetime.fromisoformat(due_at), zone)


def test_validate_timezone() -> None:
    assert validate_timezone("Australia/Lord_Howe").key == "Australia/Lord_Howe"
    for name in ("Mars/Olympus", "", "/etc/localtime", "../UTC"):
        with pytest.raises(RecurrenceError, match="unknown time zone"):
            validate_timezone(name)


# -- refusals ---------------------------------------------------------------------------

START = "DTSTART;TZID=Europe/Berlin:20260105T090000\n"


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("FREQ=MONTHLY;BYMONTH=13", "BYMONTH=13 out of range"),
        ("FREQ=MONTHLY;BYMONTH=0", "BYMONTH=0 out of range"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR=24 out of range"),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE=60 out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32 out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0 out of range"),
        ("FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY=367 out of range"),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO=54 out of range"),
        ("FREQ=MONTHLY;BYDAY=6MO,TU;BYSETPOS=1", "BYDAY=6MO"),
        ("FREQ=YEARLY;BYDAY=54MO", "BYDAY=54MO out of range"),
        ("FREQ=MONTHLY;BYDAY=XX", "BYDAY=XX"),
        ("FREQ=DAILY;BYSETPOS=0;BYHOUR=1", "BYSETPOS=0 out of range"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL=-1"),
        ("FREQ=DAILY;COUNT=0", "COUNT=0 out of range"),
        ("FREQ=DAILY;COUNT=x", "COUNT=X"),
        ("FREQ=DAILY;UNTIL=2026", "UNTIL=2026"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z", "COUNT and UNTIL"),
        ("FREQ=SECONDLY", "FREQ=SECONDLY"),
        ("FREQ=DAILY;BYSECOND=0", "BYSECOND"),
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY"),
        ("INTERVAL=2", "needs FREQ"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ given more than once"),
        ("FREQ=DAILY;BYFOO=1", "unknown RRULE part 'BYFOO'"),
        ("FREQ=DAILY;BYHOUR", "malformed RRULE part 'BYHOUR'"),
        ("FREQ=DAILY;BYHOUR=", "malformed RRULE part 'BYHOUR='"),
        (";", "empty RRULE"),
        ("FREQ=DAILY;WKST=XY", "WKST=XY"),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO needs FREQ=YEARLY"),
        ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY cannot be used with FREQ=MONTHLY"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO: an ordinal needs"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "cannot be combined with BYWEEKNO"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs another BYxxx part"),
        ("FREQ=MONTHLY;BYMONTHDAY=30,31;BYMONTH=2", "never occurs in BYMONTH=2"),
        ("FREQ=YEARLY;BYYEARDAY=1;BYMONTH=2", "never falls in BYMONTH=2"),
    ],
)
def test_refused_rrule_names_the_part(rrule: str, message: str) -> None:
    with pytest.raises(RecurrenceError, match=message):
        validate_rrule(rrule)
    with pytest.raises(RecurrenceError, match=message):
        next_occurrence(START + "RRULE:" + rrule, utc("2026-01-01T00:00"))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("RRULE:FREQ=DAILY", "missing DTSTART"),
        ("DTSTART:20260101T000000Z", "missing RRULE"),
        ("", "empty rule text"),
        (
            "DTSTART;TZID=Mars/Olympus:20260101T090000\nRRULE:FREQ=DAILY",
            "unknown time zone 'Mars/Olympus'",
        ),
        ("DTSTART:2026-01-01\nRRULE:FREQ=DAILY", "DTSTART value"),
        ("DTSTART;TZID=UTC:20260101T090000Z\nRRULE:FREQ=DAILY", "DTSTART value"),
        ("DTSTART;VALUE=DATE:20260101T090000\nRRULE:FREQ=DAILY", "VALUE=DATE does not match"),
        (
            "DTSTART:20260101T000000Z\nDTSTART:20260101T000000Z\nRRULE:FREQ=DAILY",
            "more than one DTSTART",
        ),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY", "more than one RRULE"),
        (
            "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY\nRDATE:20260102T000000Z",
            "unsupported property 'RDATE'",
        ),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY\nEXDATE:tomorrow", "EXDATE value 'TOMORROW'"),
        (
            "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY\nEXDATE;TZID=Mars/Olympus:20260102T000000",
            "Mars/Olympus",
        ),
        ("DTSTART:20260101T000000Z\nno colon here", "malformed line"),
        ("DTSTART:20261301T000000Z\nRRULE:FREQ=DAILY", "DTSTART value"),
    ],
)
def test_refused_text_names_the_part(rule: str, message: str) -> None:
    with pytest.raises(RecurrenceError, match=message):
        next_occurrence(rule, utc("2026-01-01T00:00"))


def test_unknown_tz_argument() -> None:
    with pytest.raises(RecurrenceError, match="unknown time zone 'Mars/Olympus'"):
        next_occurrence(
            "DTSTART:20260101T090000\nRRULE:FREQ=DAILY", utc("2026-01-01T00:00"), tz="Mars/Olympus"
        )


def test_naive_after_is_refused() -> None:
    with pytest.raises(RecurrenceError, match="after must be timezone-aware"):
        next_occurrence(START + "RRULE:FREQ=DAILY", datetime(2026, 1, 1))


def test_recurrence_error_is_a_value_error() -> None:
    assert issubclass(RecurrenceError, ValueError)


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=DAILY;INTERVAL=7;BYDAY=TU",  # DTSTART is a Monday: always Monday
        "FREQ=MINUTELY;INTERVAL=7;BYDAY=MO,TU;BYHOUR=3;BYMINUTE=1",
        "FREQ=HOURLY;INTERVAL=2;BYHOUR=10",  # DTSTART at 09:00: odd hours only
        "FREQ=MINUTELY;BYHOUR=1;BYSETPOS=2",
        "FREQ=YEARLY;BYWEEKNO=1;BYMONTH=6",
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",  # 2026 + 4k is never a leap year
    ],
)
def test_rules_that_never_occur_are_refused_quickly(rrule: str) -> None:
    began = time.perf_counter()
    with pytest.raises(RecurrenceError, match=r"never|out of range"):
        next_occurrence(START + "RRULE:" + rrule, utc("2026-01-01T00:00"))
    assert time.perf_counter() - began < 3


def test_sparse_rules_still_occur() -> None:
    leap = "DTSTART;TZID=Europe/Berlin:20240229T090000\nRRULE:FREQ=YEARLY"
    assert next_occurrence(leap, utc("2096-03-01T00:00")) == utc("2104-02-29T08:00")
    friday_13 = (
        "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13"
    )
    assert next_occurrence(friday_13, utc("2026-01-01T00:00")) == utc("2026-02-13T08:00")


def test_occurrences_after_limit() -> None:
    rule = START + "RRULE:FREQ=DAILY"
    assert occurrences_after(rule, utc("2026-01-01T00:00"), limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        occurrences_after(rule, utc("2026-01-01T00:00"), limit=-1)
    tokyo = timezone(timedelta(hours=9))
    assert occurrences_after(rule, datetime(2026, 1, 6, 16, 59, tzinfo=tokyo), limit=1) == [
        utc("2026-01-06T08:00")
    ]


def test_count_stays_exact_past_the_last_checkpoint() -> None:
    # A rule with a varying number of instances per period counts with checkpoints; far
    # more forward queries than it keeps must still count exactly.
    rule = "DTSTART:20200106T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;BYMONTH=1,3,5;COUNT=400"
    walked = occurrences_after(rule, utc("2020-01-01T00:00"), limit=500)
    assert len(walked) == 400
    compile_rule.cache_clear()
    for previous, following in list(pairwise(walked))[::3]:
        assert next_occurrence(rule, previous) == following
    assert next_occurrence(rule, walked[-1]) is None
