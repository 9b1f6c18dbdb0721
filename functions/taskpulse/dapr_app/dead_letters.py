"""Dead letters: every event that can never succeed goes to ``<topic>-dlq`` with the reason.

The functions publish their dead letters themselves rather than leave them to daprd's
``deadLetterTopic``: daprd's letter carries no reason, and a function's refusal (a
stranger's task, an invalid field) is only useful to whoever reads the topic with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from taskpulse.contract import Function, Topic
from taskpulse.dapr_app.verdict import Verdict
from taskpulse.dapr_app.wire import salvage
from taskpulse.observability import DEAD_LETTERS, EVENTS

log = logging.getLogger("taskpulse.dapr_app")


class DeadLetters:
    """Where dropped events go: ``<topic>-dlq``, the original event plus the reason."""

    def __init__(self, publish: Callable[[str, str, dict[str, Any]], None]) -> None:
        self._publish = publish

    def send(self, topic: Topic, event: dict[str, Any], reason: str, function: Function) -> None:
        letter = {**event, "deadletterreason": reason[:1000], "deadletterfunction": function.value}
        data = event.get("data")
        user = data.get("user_id") if isinstance(data, dict) else None
        key = str(event.get("partitionkey") or user or event.get("id") or "unknown")
        self._publish(topic.dead_letter, key, letter)

    def file(
        self, topic: Topic, event: dict[str, Any], verdict: Verdict, function: Function
    ) -> Verdict:
        """Dead-letter a dropped event: Dapr's answer is then SUCCESS (the event is dealt
        with), or RETRY when the letter could not be published (nothing may be lost)."""
        reason = verdict.reason or "dropped"
        try:
            self.send(topic, event, reason, function)
        except Exception as error:
            return Verdict.retry(f"dead letter not published ({error}); original reason: {reason}")
        DEAD_LETTERS.labels(function.value, topic.name).inc()
        return Verdict("SUCCESS", f"dead-lettered to {topic.dead_letter}: {reason}")

    def file_unreadable(
        self,
        topic: Topic,
        headers: Mapping[str, str],
        raw: bytes,
        reason: str,
        function: Function,
        *,
        limit: int,
    ) -> Verdict:
        """Dead-letter bytes that are no event of the contract, as much of them as fits."""
        EVENTS.labels(function.value, "invalid", "drop").inc()
        log.warning("invalid event on %s: %s", topic.name, reason, extra={"reason": reason})
        return self.file(topic, salvage(headers, raw, limit), Verdict.drop(reason), function)
