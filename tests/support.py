"""Small helpers shared by tests (real objects, no mocks)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from taskpulse.services.create import Created
    from taskpulse.store import UnitOfWork

T = TypeVar("T")


@dataclass
class RecordingPublisher:
    """A Publisher that keeps what it was given; ``fail_ids`` refuse until cleared."""

    published: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish_many(
        self, topic: str, entries: Sequence[tuple[str, dict[str, Any]]]
    ) -> dict[int, str]:
        """As Kafka answers a request: a refused entry fails its key's later entries too
        (one partition's records are appended or refused together)."""
        failed: dict[int, str] = {}
        refused_keys: set[str] = set()
        for n, (key, event) in enumerate(entries):
            if key in refused_keys or event["id"] in self.fail_ids:
                refused_keys.add(key)
                failed[n] = f"refused {event['id']}"
                continue
            with self._lock:
                self.published.append((topic, key, event))
        return failed

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((topic, event["id"]) for topic, _, event in self.published)


def functions_framework_argv(source: object, port: int) -> list[str]:
    """How a function is started everywhere: the functions-framework CLI, http signature."""
    import sys

    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(source),
        "--target",
        "handle",
        "--signature-type",
        "http",
        "--port",
        str(port),
    ]


class Timeout(AssertionError):
    """A polled condition did not come true in time (fails the test that waited)."""


def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 30.0,
    what: str = "a result",
    every: float = 0.2,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Timeout(f"after {timeout:.0f}s still waiting for {what}")
        time.sleep(every)


def create_tasks(
    unit_of_work: Callable[[], UnitOfWork],
    count: int,
    *,
    source: str,
    user: str | Callable[[int], str],
) -> list[Created]:
    """``count`` tasks titled ``task <n>``, each created by its own command (``source``,
    id ``n``) in a unit of work of ``unit_of_work`` (a store's, or a runtime's, whose
    publisher then sends the events); ``user`` names the owner, or gives the owner of
    task ``n``."""
    from taskpulse.events import TaskCreateData
    from taskpulse.services.create import create_task
    from taskpulse.services.keys import Origin

    def owner(n: int) -> str:
        return user(n) if callable(user) else user

    return [
        create_task(
            unit_of_work,
            TaskCreateData(user_id=owner(n), title=f"task {n}"),
            Origin(source, str(n)),
        )
        for n in range(count)
    ]
