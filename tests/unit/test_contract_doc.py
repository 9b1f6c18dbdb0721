"""docs/contract.md and ``taskpulse.contract`` say the same thing.

The document is the public contract that tests outside the project are written against;
the module defines its names once for the code. A name or figure changed on one side only
fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskpulse import contract

DOC = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()
RETENTION = {"7 days": 7 * 86400, "24 hours": 86400, "1 hour": 3600, "14 days": 14 * 86400}


def topic_rows() -> dict[str, tuple[int, int]]:
    """The event-fabric table: topic (or ``<topic>-dlq``) -> (partitions, retention in s)."""
    rows = re.findall(r"^\| `([a-z<>-]+)` \| (\d+) \| ([^|]+) \|", DOC, flags=re.MULTILINE)
    return {name: (int(parts), RETENTION[kept.strip()]) for name, parts, kept in rows}


def test_every_topic_has_the_documented_partitions_and_retention() -> None:
    rows = topic_rows()
    assert set(rows) == {topic.name for topic in contract.TOPICS} | {"<topic>-dlq"}
    for topic in contract.all_topics():
        documented = topic.name if topic in contract.TOPICS else "<topic>-dlq"
        seconds = int(topic.retention.total_seconds())
        assert rows[documented] == (topic.partitions, seconds), topic.name


@pytest.mark.parametrize("event_type", list(contract.EventType))
def test_every_event_type_is_documented(event_type: contract.EventType) -> None:
    assert f"`{event_type.value}`" in DOC


def test_every_documented_event_type_exists() -> None:
    documented = set(re.findall(r"`(dev\.taskpulse\.[a-z.]+\.v\d+)`", DOC))
    assert documented == {t.value for t in contract.EventType}


@pytest.mark.parametrize("function", list(contract.Function))
def test_every_function_is_documented(function: contract.Function) -> None:
    assert f"`{function.value}`" in DOC


def test_names_the_code_shares_with_the_document() -> None:
    assert f"`{contract.PUBSUB_NAME}`" in DOC
    assert f"`{contract.push_channel('<user_id>')}`" in DOC
    assert f"`{contract.EVENT_SOURCE_PREFIX}<function>`" in DOC
    group = contract.consumer_group(contract.Function.COMPUTE_NEXT_OCCURRENCE, contract.TASK_EVENTS)
    assert f"`{group}`" in DOC
    assert {f"`{mode.value}`" for mode in contract.RecurrenceMode} <= set(
        re.findall(r"`[a-z_]+`", DOC)
    )
