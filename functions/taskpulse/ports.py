"""What the core needs from the outside world, as protocols (the adapters implement them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class PublishError(Exception):
    """The event was not accepted by the broker; it must be retried, never dropped."""


class Publisher(Protocol):
    """What the outbox relay publishes through."""

    def publish_many(
        self, topic: str, entries: Sequence[tuple[str, dict[str, Any]]]
    ) -> Mapping[int, str]:
        """Publish ``(partition key, CloudEvent)`` entries to one topic in one request.

        Returns the entries that were not accepted (index -> reason); the others were.
        Raises PublishError when nothing can be said of any entry (the broker's side did
        not answer): then each may or may not have been accepted.
        """


class ChannelError(RuntimeError):
    """A delivery channel (the push gateway, the mail server) did not deliver."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        """The channel refused this message for good: sending it again would be refused
        again. Otherwise the failure is transient, and a retry may succeed."""
