"""What the core needs from the outside world, as protocols (the adapters implement them).

The services type against these, never against the store, the mailer or the push
gateway themselves: so the use cases read as their rules alone, and run as well over
the in-memory fakes of the unit tests as over PostgreSQL. Each protocol holds exactly
what a service calls; mypy checks the adapters against them where they are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from taskpulse.errors import Transient

if TYPE_CHECKING:  # annotations only: a function that never loads the domain stays light
    from datetime import datetime

    from taskpulse.domain import Task
    from taskpulse.domain.series import Series
    from taskpulse.domain.tasks import PageQuery


class PublishError(Transient):
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


class MailError(ChannelError):
    """The mailer did not send; ``permanent``: the server refused the recipient, the
    sender or the content (a 5xx), and would again."""

    def __init__(self, message: str, *, definitely_not_sent: bool, permanent: bool = False) -> None:
        super().__init__(message, permanent=permanent)
        self.definitely_not_sent = definitely_not_sent
        """True when the server refused before accepting the message: safe to retry."""


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str
    """Deterministic per reminder, so mail clients can fold an unlikely duplicate."""


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Send ``mail``, or raise a ``MailError`` that says whether it can have gone."""


class Pusher(Protocol):
    def publish(self, user_id: str, data: Mapping[str, Any], *, idempotency_key: str) -> None:
        """Show ``data`` on the user's screens; a repeat of the key is shown once."""


class Outcome(StrEnum):
    DONE = "done"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PriorResult:
    """What the first delivery of an event did; a repeat answers the same."""

    outcome: Outcome
    result_id: str | None
    detail: str | None


class IdempotencyLog(Protocol):
    """Each effect once: a key is claimed in the transaction of the effect."""

    def claim(self, key: str, *, result_id: str | None = None) -> PriorResult | None:
        """Take ``key`` (as DONE, with ``result_id``); ``None`` means we are first and
        must act, else what the first claim recorded. A concurrent claim of the same key
        waits for this transaction, and rolls back with it."""

    def reject(self, key: str, *, detail: str) -> None:
        """Keep ``key`` claimed but mark its effect refused for good (``detail`` says why):
        a repeat must not try again, and must not pass for a success."""

    def release(self, key: str) -> None:
        """Forget ``key`` so that a later delivery acts again (the effect did not happen)."""


class TaskRepository(Protocol):
    def add(self, task: Task) -> None: ...

    def get(self, task_id: str, *, for_update: bool = False) -> Task | None:
        """``for_update`` locks the task until commit: concurrent changes queue up."""

    def save(self, task: Task) -> None:
        """Write a changed task; a version that moved under us is refused."""

    def open_in_series(self, series_id: str) -> list[Task]:
        """The series' open tasks, earliest occurrence first."""

    def in_series_at(self, series_id: str, occurrence_at: datetime) -> Task | None: ...

    def page(self, user_id: str, query: PageQuery) -> list[Task]: ...


class SeriesRepository(Protocol):
    def add(self, series: Series) -> None: ...

    def get(self, series_id: str, *, for_update: bool = False) -> Series | None: ...

    def save(self, series: Series) -> None: ...


class UserDirectory(Protocol):
    def remember_email(self, user_id: str, email: str) -> None:
        """Keep the address the user's issuer verified (the newest one wins)."""

    def email_of(self, user_id: str) -> str | None: ...


class Outbox(Protocol):
    def add(self, topic: str, partition_key: str, event: dict[str, Any]) -> None:
        """Publish ``event`` on ``topic`` once the unit of work commits, never before."""


class UnitOfWork(Protocol):
    """One transaction: the state, its events and its idempotency keys commit together,
    or (leaving the block without ``commit``) none of them does."""

    @property
    def tasks(self) -> TaskRepository: ...

    @property
    def series(self) -> SeriesRepository: ...

    @property
    def users(self) -> UserDirectory: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def processed(self) -> IdempotencyLog: ...

    @property
    def now(self) -> datetime:
        """The time of this unit of work, read once when it began."""

    def commit(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
