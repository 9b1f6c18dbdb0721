"""What the core needs from the outside world, as protocols (the adapters implement them)."""

from __future__ import annotations

from typing import Any, Protocol


class PublishError(Exception):
    """The event was not accepted by the broker; it must be retried, never dropped."""


class Publisher(Protocol):
    def publish(self, topic: str, partition_key: str, event: dict[str, Any]) -> None:
        """Publish one CloudEvent (structured JSON); raise PublishError when not accepted."""
