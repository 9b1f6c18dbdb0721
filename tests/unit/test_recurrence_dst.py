"""DST: nonexistent local times shift forward by the gap, ambiguous ones take the first.

Zones with 60-minute shifts (New York, Berlin), a 30-minute shift (Lord Howe) and a
skipped day (Apia, 2011-12-30), across both transitions. Expected instants are written
out in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskpulse.recurrence import first_occurrence, occurrences_after


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def series(zone: str, start: str, rrule: str) -> str:
    return f"DTSTART;TZID={zone}:{start}\nRRULE:{rrule}"


CASES = [
    pytest.param(
        series("America/New_York", "20260306T023000", "FREQ=DAILY"),
        "2026-03-05T00:00",
        # 02:30 does not exist on 2026-03-08: read as EST, it is 03:30 EDT.
        ["2026-03-06T07:30", "2026-03-07T07:30", "2026-03-08T07:30", "2026-03-09T06:30"],
        id="new-york-spring-gap-daily",
    ),
    pytest.param(
        series("America/New_York", "20261030T013000", "FREQ=DAILY"),
        "2026-10-30T00:00",
        # 01:30 happens twice on 2026-11-01: the first (EDT) one counts.
        ["2026-10-30T05:30", "2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"],
        id="new-york-fall-fold-daily",
    ),
    pytest.param(
        series("America/New_York", "20260307T000000", "FREQ=MINUTELY;INTERVAL=15"),
        "2026-03-08T06:40",
        # 02:00..02:45 map onto 03:00..03:45 EDT: one occurrence each, no hole, no repeat.
        [
            "2026-03-08T06:45",
            "2026-03-08T07:00",
            "2026-03-08T07:15",
            "2026-03-08T07:30",
            "2026-03-08T07:45",
            "2026-03-08T08:00",
        ],
        id="new-york-spring-gap-15-minutes",
    ),
    pytest.param(
        series("America/New_York", "20261031T000000", "FREQ=HOURLY"),
        "2026-11-01T03:30",
        # Wall-clock hours: 01:00 is the EDT one, 02:00 is EST, the second 01:00 is no instance.
        ["2026-11-01T04:00", "2026-11-01T05:00", "2026-11-01T07:00", "2026-11-01T08:00"],
        id="new-york-fall-fold-hourly",
    ),
    pytest.param(
        series("Europe/Berlin", "20260327T023000", "FREQ=DAILY"),
        "2026-03-27T00:00",
        ["2026-03-27T01:30", "2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30"],
        id="berlin-spring-gap-daily",
    ),
    pytest.param(
        series("Europe/Berlin", "20261023T023000", "FREQ=DAILY"),
        "2026-10-23T00:00",
        ["2026-10-23T00:30", "2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"],
        id="berlin-fall-fold-daily",
    ),
    pytest.param(
        series("Australia/Lord_Howe", "20261002T021500", "FREQ=DAILY"),
        "2026-10-01T00:00",
        # A 30-minute gap: 02:15 on 2026-10-04 is 02:45 (+11:00).
        ["2026-10-01T15:45", "2026-10-02T15:45", "2026-10-03T15:45", "2026-10-04T15:15"],
        id="lord-howe-spring-gap-30-minutes",
    ),
    pytest.param(
        series("Australia/Lord_Howe", "20260403T014500", "FREQ=DAILY"),
        "2026-04-02T00:00",
        # 01:45 on 2026-04-05 happens at +11:00 and again at +10:30: the first counts.
        ["2026-04-02T14:45", "2026-04-03T14:45", "2026-04-04T14:45", "2026-04-05T15:15"],
        id="lord-howe-fall-fold-30-minutes",
    ),
    pytest.param(
        series("Pacific/Apia", "20111228T090000", "FREQ=DAILY"),
        "2011-12-28T00:00",
        # 2011-12-30 was skipped: its 09:00 lands on 12-31 09:00 (+14), which is the same
        # instant as 12-31's own 09:00, so it is one occurrence.
        ["2011-12-28T19:00", "2011-12-29T19:00", "2011-12-30T19:00", "2011-12-31T19:00"],
        id="apia-skipped-day",
    ),
    pytest.param(
        series("Pacific/Apia", "20111201T090000", "FREQ=WEEKLY;BYDAY=FR"),
        "2011-12-20T00:00",
        # Friday 2011-12-30 does not exist; its 09:00 becomes Saturday 09:00 local.
        ["2011-12-23T19:00", "2011-12-30T19:00", "2012-01-05T19:00"],
        id="apia-skipped-friday",
    ),
]


@pytest.mark.parametrize(("rule", "after", "expected"), CASES)
def test_transitions(rule: str, after: str, expected: list[str]) -> None:
    found = occurrences_after(rule, utc(after), limit=len(expected))
    assert found == [utc(e) for e in expected]


def test_dtstart_inside_a_gap_is_shifted_forward() -> None:
    rule = series("America/New_York", "20260308T023000", "FREQ=DAILY;COUNT=2")
    assert first_occurrence(rule) == utc("2026-03-08T07:30")


def test_results_are_utc_whatever_the_zone_of_after() -> None:
    rule = series("Europe/Berlin", "20260101T090000", "FREQ=DAILY")
    after = datetime.fromisoformat("2026-06-01T12:00:00+09:00")
    found = occurrences_after(rule, after, limit=1)[0]
    assert found == utc("2026-06-01T07:00")
    assert found.tzinfo is UTC
