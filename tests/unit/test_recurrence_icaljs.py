"""ical.js's recurrence iterator tests, case by case (data in recurrence_data/icaljs_cases.py).

A second oracle next to RFC 5545's own examples: Mozilla's ical.js is an independent
implementation, so its expected dates check ours without sharing python-dateutil's
reading of the RFC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from recurrence_data.icaljs_cases import CASES, LEADING_DTSTART_NOT_IN_RULE, Case

from taskpulse.recurrence import RecurrenceError, next_occurrence, occurrences_after

SECOND = timedelta(seconds=1)

# Cases where ical.js reads RFC 5545 differently from the engine's stated policy (not a
# matter of DTSTART). Each names the test that pins the engine's own answer; here the
# engine must keep disagreeing with ical.js, so a change of policy cannot pass unnoticed.
CONVENTIONS = {
    "YEARLY the last day of April (without BYMONTH)": (
        "test_recurrence_rfc_readings.py::"
        "test_policy_yearly_bymonthday_without_bymonth_means_every_month"
    ),
}


def rule_text(case: Case) -> str:
    return "\n".join([case.dtstart, f"RRULE:{case.rrule}", *case.exdates])


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def dtstart_instant(line: str) -> datetime:
    """The instant of a DTSTART line, read as the engine is called here (``tz=None``)."""
    head, value = line.split(":", 1)
    params = dict(part.split("=", 1) for part in head.split(";")[1:])
    if params.get("VALUE") == "DATE":
        wall = datetime.strptime(value, "%Y%m%d")
    else:
        wall = datetime.strptime(value.removesuffix("Z"), "%Y%m%dT%H%M%S")
    zone = ZoneInfo(params["TZID"]) if "TZID" in params else UTC  # floating and Z: UTC
    return wall.replace(tzinfo=zone).astimezone(UTC)


def expectation(case: Case) -> tuple[list[datetime], bool]:
    """The instances our engine must produce, and whether that is the whole series."""
    expected = [utc(text) for text in case.expected]
    complete = case.complete
    if case.name in LEADING_DTSTART_NOT_IN_RULE:
        # ical.js lists DTSTART first although it does not match the rule; the engine's
        # documented policy (python-dateutil's) makes DTSTART an instance only when it
        # matches. Drop it; the rest of ical.js's list still holds. Under COUNT, ical.js
        # spent one of COUNT on DTSTART, so the engine has one instance more after the
        # list, which is then a prefix.
        assert expected[0] == dtstart_instant(case.dtstart), "data: first date is not DTSTART"
        expected = expected[1:]
        complete = complete and "COUNT=" not in case.rrule
    return expected, complete


def params(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=case.name) for case in cases]


WITH_INSTANCES = params([case for case in CASES if case.expected and case.name not in CONVENTIONS])
WITHOUT_INSTANCES = params([case for case in CASES if not case.expected])
BY_CONVENTION = params([case for case in CASES if case.name in CONVENTIONS])


def test_the_data_is_consistent() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert set(CONVENTIONS) <= set(names)
    assert set(names) >= LEADING_DTSTART_NOT_IN_RULE
    for case in CASES:
        assert case.dtstart.startswith("DTSTART"), case.name
        assert list(case.expected) == sorted(set(case.expected)), case.name
        first = dtstart_instant(case.dtstart)
        assert all(utc(text) >= first for text in case.expected), case.name
        if "COUNT=" in case.rrule or "UNTIL=" in case.rrule:
            assert case.complete, case.name


@pytest.mark.parametrize("case", WITH_INSTANCES)
def test_instances_chain_from_just_before_dtstart(case: Case) -> None:
    rule = rule_text(case)
    expected, complete = expectation(case)
    found: list[datetime] = []
    current: datetime | None = dtstart_instant(case.dtstart) - SECOND
    for _ in expected:
        current = next_occurrence(rule, current)
        if current is None:
            break
        found.append(current)
    assert found == expected
    if complete:
        assert next_occurrence(rule, found[-1]) is None


@pytest.mark.parametrize("case", WITH_INSTANCES)
def test_any_instance_is_found_from_just_before_it(case: Case) -> None:
    # Latest first, so no query is answered from the run the previous one left behind.
    rule = rule_text(case)
    expected, _ = expectation(case)
    latest_first = expected[::-1]
    assert [next_occurrence(rule, wanted - SECOND) for wanted in latest_first] == latest_first
    pairs = list(pairwise(expected))[::-1]
    assert [next_occurrence(rule, previous) for previous, _ in pairs] == [w for _, w in pairs]


@pytest.mark.parametrize("case", WITH_INSTANCES)
def test_occurrences_after_lists_the_series(case: Case) -> None:
    expected, complete = expectation(case)
    limit = len(expected) + 1 if complete else len(expected)
    start = dtstart_instant(case.dtstart) - SECOND
    assert occurrences_after(rule_text(case), start, limit=limit) == expected


@pytest.mark.parametrize("case", WITHOUT_INSTANCES)
def test_a_rule_without_instances_is_refused(case: Case) -> None:
    # ical.js's iterator yields nothing. The engine's documented policy (module docstring
    # of taskpulse.recurrence, "Errors") is to refuse a rule that can never produce an
    # instance rather than scan the calendar to year 9999 for one.
    with pytest.raises(RecurrenceError, match="never"):
        next_occurrence(rule_text(case), dtstart_instant(case.dtstart) - SECOND)


@pytest.mark.parametrize("case", BY_CONVENTION)
def test_a_case_read_by_another_convention_keeps_our_policy(case: Case) -> None:
    expected, _ = expectation(case)
    start = dtstart_instant(case.dtstart) - SECOND
    found = occurrences_after(rule_text(case), start, limit=len(expected))
    assert found[0] == expected[0]  # both readings agree on the first instance
    assert found != expected, f"now agrees with ical.js; see {CONVENTIONS[case.name]}"
