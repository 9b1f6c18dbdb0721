"""The generated JSON Schemas and AsyncAPI document: current, and true of real events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from taskpulse import schemas
from taskpulse.contract import TOPICS, EventType, Function
from taskpulse.domain import Task
from taskpulse.events import (
    InvalidEvent,
    ReminderSentData,
    TaskCreateData,
    parse_data,
    parse_envelope,
)
from taskpulse.services.emit import task_created_event

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_committed_documents_are_generated_from_the_models() -> None:
    assert schemas.main([str(DOCS), "--check"]) == 0


def _schema(event_type: EventType) -> dict[str, object]:
    name = event_type.value.removeprefix("dev.taskpulse.").replace(".", "-")
    loaded: dict[str, object] = json.loads((DOCS / "schemas" / f"{name}.json").read_text())
    return loaded


def test_an_emitted_task_created_event_matches_its_schema() -> None:
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    task = Task(
        id="t1",
        user_id="alice",
        title="x",
        due_at=now + timedelta(days=1),
        timezone="Europe/Berlin",
        created_at=now,
        updated_at=now,
        rrule="FREQ=DAILY",
        series_id="s1",
        occurrence_at=now + timedelta(days=1),
        remind_before=timedelta(minutes=15),
        tags=("a",),
    )
    event = task_created_event(task, source=Function.CREATE_TASK, traceparent=None)
    jsonschema.validate(event, _schema(EventType.TASK_CREATED))
    assert event["data"]["remind_before"] == "PT15M"


def test_a_client_command_matches_and_a_broken_one_does_not() -> None:
    schema = _schema(EventType.TASK_CREATE)
    good = {
        "specversion": "1.0",
        "id": "1",
        "source": "/c",
        "type": EventType.TASK_CREATE.value,
        "data": {"user_id": "a", "title": "t", "due_at": "2030-01-01T09:00:00+01:00"},
    }
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "data": {"user_id": "a"}}, schema)


def test_the_asyncapi_document_names_every_topic_and_type() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == {t.name for t in TOPICS}
    assert {m["name"] for m in document["components"]["messages"].values()} == {
        t.value for t in EventType
    }


def test_parse_errors_name_the_field() -> None:
    event = parse_envelope(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "/c",
            "type": EventType.TASK_CREATE.value,
            "data": {"user_id": "a", "title": "t", "priority": "urgent"},
        }
    )
    with pytest.raises(InvalidEvent, match="priority"):
        parse_data(event, TaskCreateData)
    with pytest.raises(InvalidEvent, match="specversion"):
        parse_envelope({"id": "1", "source": "/c", "type": "x"})
    with pytest.raises(InvalidEvent, match="unknown event type"):
        _ = parse_envelope(
            {"specversion": "1.0", "id": "1", "source": "/c", "type": "x.y"}
        ).event_type
    with pytest.raises(InvalidEvent, match="channels"):
        parse_data(
            parse_envelope(
                {
                    "specversion": "1.0",
                    "id": "1",
                    "source": "/c",
                    "type": EventType.REMINDER_SENT.value,
                    "data": {"channels": ["fax"]},
                }
            ),
            ReminderSentData,
        )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "posixrules", "../etc/passwd", ""])
def test_a_create_command_takes_iana_zone_names_only(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        TaskCreateData(user_id="a", title="t", timezone=zone)
    assert TaskCreateData(user_id="a", title="t", timezone="Australia/Lord_Howe").timezone
