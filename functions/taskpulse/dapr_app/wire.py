"""The wire formats through which events reach a function, and its answers leave it.

A CloudEvent arrives structured (``application/cloudevents+json``) or binary (``ce-*``
headers); a gate's record arrives unparsed, base64 in daprd's rawPayload envelope; a
bulk delivery carries many of either. Everything here is bytes and dicts: no routing,
no handlers, no verdicts.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response

from taskpulse.dapr_app.verdict import Status, Verdict
from taskpulse.events import InvalidEvent

DAPR_RAW_TYPE = "com.dapr.event.sent"
"""``type`` of the envelope in which daprd delivers a rawPayload subscription's records."""
BULK_TYPE = "com.dapr.event.sent.bulk"
"""``type`` of a bulk delivery's envelope (components-contrib ``pubsub.DefaultBulkEventType``)."""


def json_response(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def dapr_response(verdict: Verdict) -> Response:
    """Dapr's pub/sub answer to one event: always 200, the status in the body."""
    return json_response({"status": verdict.status})


def bulk_response(entries: Sequence[BulkEntry], statuses: Sequence[Status]) -> Response:
    """Dapr's answer to a bulk delivery: one status per entry."""
    return json_response(
        {
            "statuses": [
                {"entryId": entry.entry_id, "status": status}
                for entry, status in zip(entries, statuses, strict=True)
            ]
        }
    )


def unwrap_raw(raw: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The Kafka record inside daprd's rawPayload envelope, with the headers that describe
    it; anything else is returned as it came. ``headers`` has lower-case names."""
    # Unbounded by the event limit on purpose: the envelope is bounded by the topic's
    # record limit, and the record's own size is what the dead letter should report.
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        return raw, headers
    if not isinstance(envelope, dict) or envelope.get("type") != DAPR_RAW_TYPE:
        return raw, headers
    encoded = envelope.get("data_base64")
    if not isinstance(encoded, str):
        return raw, headers
    try:
        record = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent("data_base64 is not base64") from None
    # The record's own content type is unknown (Kafka has none); the contract says
    # structured CloudEvents, which decode_request reads from the bytes alone.
    kept = {k: v for k, v in headers.items() if k != "content-type" and not k.startswith("ce-")}
    return record, kept


@dataclass(frozen=True, slots=True)
class BulkEntry:
    entry_id: str
    record: bytes
    headers: dict[str, str]


def bulk_entries(raw: bytes) -> list[BulkEntry] | None:
    """The entries of Dapr's bulk delivery (``bulkSubscribe``), or ``None`` when ``raw`` is
    not one. A gate's entries are raw records, base64 in ``event``. daprd sends an entry as
    a CloudEvent object instead for a subscription without rawPayload (none of ours); such
    an entry is read as its JSON, so a subscription deployed without it still works."""
    if not raw.startswith(b"{") or BULK_TYPE.encode() not in raw:
        return None  # the common single event: not parsed twice
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict) or envelope.get("type") != BULK_TYPE:
        return None
    items = envelope.get("entries")
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("entryId"), str) for item in items
    ):
        return None
    return [BulkEntry(item["entryId"], *_bulk_record(item)) for item in items]


def _bulk_record(item: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    event = item.get("event")
    if isinstance(event, str):
        try:
            return base64.b64decode(event, validate=True), {}
        except (binascii.Error, ValueError):
            return event.encode(), {}  # invalid: dead-lettered as it came
    content_type = str(item.get("contentType") or "application/cloudevents+json")
    return json.dumps(event).encode(), {"content-type": content_type}


def check_size(raw: bytes, limit: int) -> None:
    if len(raw) > limit:
        raise InvalidEvent(f"event is {len(raw)} bytes; the limit is {limit}")


def decode_request(headers: Mapping[str, str], raw: bytes, limit: int) -> dict[str, Any]:
    """The CloudEvent of a request as a dict: structured or binary.

    ``headers`` has lower-case names."""
    check_size(raw, limit)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if "ce-specversion" in headers and content_type != ("application/cloudevents+json"):
        return _binary(headers, raw)
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidEvent(
            f"body is not JSON: {error.msg} at byte {error.pos}"
            " (and no ce-* headers for binary mode)"
        ) from None
    except ValueError:  # bytes that are not UTF-8
        raise InvalidEvent("body is not JSON: not UTF-8 text") from None
    except RecursionError:
        raise InvalidEvent("body is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("a structured CloudEvent must be a JSON object")
    return payload


def _binary(headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    from cloudevents.exceptions import GenericException
    from cloudevents.http import from_http

    try:
        event = from_http(dict(headers), raw)
    except GenericException as error:
        raise InvalidEvent(f"not a binary-mode CloudEvent: {error}") from None
    payload: dict[str, Any] = dict(event.get_attributes())
    data = event.data
    if isinstance(data, bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise InvalidEvent("binary-mode data is not JSON") from None
    payload["data"] = data
    return payload


def salvage(headers: Mapping[str, str], raw: bytes, limit: int) -> dict[str, Any]:
    """As much of an invalid event as can travel to the dead-letter topic."""
    if len(raw) <= limit:
        try:
            payload = json.loads(raw)
            if isinstance(payload, dict):
                return payload
        except (ValueError, RecursionError):
            pass
    # daprd's __topic/__partition/__offset headers would say where the record is, but
    # gunicorn drops every header with an underscore in its name (header_map "drop").
    return {
        "deadletterbody": raw[:4096].decode("utf-8", errors="replace"),
        "deadletterbytes": len(raw),
        "contenttype": headers.get("content-type"),
    }
