"""JSON logs that carry the trace id, and the Prometheus metrics of every function."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "taskpulse_events_total",
    "Events handled, by function, CloudEvent type and outcome: success (dead-lettered ones"
    " too), retry, drop, and passed (a topic's gate let an event of another function by).",
    ["function", "type", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "taskpulse_handle_seconds",
    "Time to handle one event or job trigger, by function and route.",
    ["function", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DAPR_CALL_SECONDS = Histogram(
    "taskpulse_dapr_call_seconds",
    "Latency of calls to Dapr, by operation.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
DAPR_CALL_ERRORS = Counter(
    "taskpulse_dapr_call_errors_total",
    "Failed or refused calls to Dapr, by operation.",
    ["operation"],
)
OUTBOX_PUBLISHED = Counter(
    "taskpulse_outbox_published_total", "Outbox events published, by function.", ["function"]
)
OUTBOX_OLDEST_PENDING = Gauge(
    "taskpulse_outbox_oldest_pending_seconds",
    "Age of the oldest committed event not yet published (0: none), read at each scrape.",
    ["function"],
)
DEAD_LETTERS = Counter(
    "taskpulse_dead_letters_total",
    "Events filed in a dead-letter topic, by function and the topic they came from.",
    ["function", "topic"],
)
REMINDER_LATENESS = Histogram(
    "taskpulse_reminder_lateness_seconds",
    "How long after its remind_at a reminder reached the user (push or mail).",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)

trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


class JsonFormatter(logging.Formatter):
    def __init__(self, function: str) -> None:
        super().__init__()
        self._function = function

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "function": self._function,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (current := trace_id.get()) is not None:
            entry["trace_id"] = current
        for key in ("event_id", "event_type", "task_id", "user_id", "reason"):
            if (value := record.__dict__.get(key)) is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(function: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(function))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per HTTP call to Dapr is noise; failures are logged where they are handled.
    logging.getLogger("httpx").setLevel(logging.WARNING)
