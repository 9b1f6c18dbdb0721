"""RFC 5545 section 3.8.5.3, example by example (data in recurrence_data/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from recurrence_data.rfc5545_examples import EXAMPLES, ZONE, Example

from taskpulse.recurrence import next_occurrence, occurrences_after, remaining

NEW_YORK = ZoneInfo(ZONE)


def rule_text(example: Example) -> str:
    lines = [f"DTSTART;TZID={ZONE}:{example.dtstart}", f"RRULE:{example.rrule}"]
    return "\n".join(lines + list(example.exdates))


def instant(wall: datetime) -> datetime:
    return wall.replace(tzinfo=NEW_YORK).astimezone(UTC)


def start_of(example: Example) -> datetime:
    return instant(datetime.strptime(example.dtstart, "%Y%m%dT%H%M%S"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_instances_chain_from_the_start(example: Example) -> None:
    rule = rule_text(example)
    found, current = [], start_of(example) - timedelta(days=1)
    for _ in example.expected:
        current = next_occurrence(rule, current)
        assert current is not None, f"series ended after {len(found)} instances"
        found.append(current)
    assert found == [instant(w) for w in example.expected]
    if example.complete:
        assert next_occurrence(rule, found[-1]) is None


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_any_instance_is_found_from_just_before_it(example: Example) -> None:
    # Exercises the anchored search: every query starts mid-series, not at DTSTART.
    rule = rule_text(example)
    expected = [instant(w) for w in example.expected]
    for previous, wanted in zip([None, *expected], expected, strict=False):
        assert next_occurrence(rule, wanted - timedelta(seconds=1)) == wanted
        if previous is not None:
            assert next_occurrence(rule, previous) == wanted


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if "COUNT" in e.rrule], ids=lambda e: e.name
)
def test_remaining_counts_down(example: Example) -> None:
    rule = rule_text(example)
    expected = [instant(w) for w in example.expected]
    assert remaining(rule, start_of(example) - timedelta(days=1)) == len(expected)
    for index, moment in enumerate(expected):
        assert remaining(rule, moment) == len(expected) - index - 1


def test_occurrences_after_lists_in_order() -> None:
    example = EXAMPLES[0]
    found = occurrences_after(rule_text(example), start_of(example), limit=3)
    assert found == [instant(w) for w in example.expected[1:4]]
