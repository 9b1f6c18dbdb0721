"""What the core needs from the outside world, as protocols (the adapters implement them)."""

from __future__ import annotations

from typing import Any, Protocol


class PublishError(Exception):
    """The event was not accepted by the broker; it must be retried, never dropped."""


class Publisher(Protocol):
    def publish(self, topic: str, partition_key: str, event: dict[str, Any]) -> None:
        """Publish one CloudEvent (structured JSON); raise PublishError when not accepted."""


class ChannelError(RuntimeError):
    """A delivery channel (the push gateway, the mail server) did not deliver."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        """The channel refused this message for good: sending it again would be refused
        again. Otherwise the failure is transient, and a retry may succeed."""
