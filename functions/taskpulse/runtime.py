"""Per-process wiring of a function, built lazily and once.

A cold start pays only for what the first event needs: push-update never imports the
store, and nothing connects anywhere before a request arrives.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from taskpulse.contract import Function
from taskpulse.http import SWEEP_JOB, Answer, DeadLetters
from taskpulse.observability import OUTBOX_PUBLISHED, configure_logging
from taskpulse.settings import Settings

if TYPE_CHECKING:
    from taskpulse.dapr import DaprClient
    from taskpulse.events import CloudEvent
    from taskpulse.mail import SmtpMailer
    from taskpulse.push import PushGateway
    from taskpulse.store import Store
    from taskpulse.store.outbox import OutboxRelay
    from taskpulse.store.uow import Batch, UnitOfWork

log = logging.getLogger("taskpulse.runtime")
T = TypeVar("T")


class _Command(Protocol):
    @property
    def user_id(self) -> str: ...


class _Outcome(Protocol):
    @property
    def outbox_ids(self) -> tuple[int, ...]: ...


Outcome = TypeVar("Outcome", bound=_Outcome)
SWEEP_EVERY_SECONDS = 30.0
"""How often a busy function also publishes what others (or a crash) left in the outbox."""
BUSY_KEY_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.5)
"""Pauses before each retry while another relay publishes the same key (about 0.9 s)."""
SWEEP_JOB_AFTER = timedelta(seconds=30)
"""When a publish failed: the outbox-sweep job fires this much later (then every 15 s
while it still fails, see DaprClient.schedule_job)."""
CLEANUP_EVERY_SECONDS = 3600.0
"""How often a busy function purges expired idempotency rows and old published events."""


@dataclass
class _OpenBatch:
    transaction: Batch
    outbox_ids: dict[str, list[int]] = field(default_factory=dict)
    """Committed with the batch, then published, per partition key."""


class Runtime:
    def __init__(self, function: Function, settings: Settings | None = None) -> None:
        self.function = function
        self._settings = settings
        self._lock = threading.RLock()
        self._local = threading.local()
        self._parts: dict[str, Any] = {}
        # When each periodic chore last ran (monotonic); cleanup waits a full period.
        self._last_run: dict[str, float] = {"cleanup": time.monotonic()}
        configure_logging(function.value)

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            part: T = self._parts[name]
            return part

    @property
    def settings(self) -> Settings:
        return self._once("settings", lambda: self._settings or Settings())

    @property
    def dapr(self) -> DaprClient:
        from taskpulse.dapr import DaprClient

        def build() -> DaprClient:
            token = self.settings.dapr_api_token
            return DaprClient(
                self.settings.dapr_http_endpoint,
                api_token=token.get_secret_value() if token else None,
                timeout=self.settings.dapr_timeout_seconds,
            )

        return self._once("dapr", build)

    @property
    def store(self) -> Store:
        from taskpulse.store import Store

        return self._once(
            "store",
            lambda: Store(
                self.settings.database_url,
                pool_size=self.settings.database_pool_size,
                retention=self.settings.idempotency_retention,
            ),
        )

    def unit_of_work(self) -> UnitOfWork:
        batch = self._batch()
        return batch.transaction.unit_of_work() if batch else self.store.unit_of_work()

    def _batch(self) -> _OpenBatch | None:
        return getattr(self._local, "batch", None)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Handle the events of one bulk delivery in one transaction (``store.Batch``).

        Inside, every unit of work of this thread is a savepoint of that transaction, and
        what the handlers hand to :meth:`flush` waits for its commit. Raises when the
        commit fails: then nothing of the batch happened, and every event must be retried.
        """
        if self._batch() is not None:
            raise RuntimeError("batches do not nest")
        with self.store.batch() as transaction:
            opened = self._local.batch = _OpenBatch(transaction)
            try:
                yield
            finally:
                self._local.batch = None
            transaction.commit()
        for key, ids in opened.outbox_ids.items():
            self.flush(ids, key=key)

    @property
    def relay(self) -> OutboxRelay:
        return self._once(
            "relay",
            lambda: self.store.relay(
                self.dapr,
                batch_size=self.settings.outbox_batch_size,
                max_backoff=self.settings.outbox_max_backoff,
            ),
        )

    @property
    def push(self) -> PushGateway:
        from taskpulse.push import PushGateway

        def build() -> PushGateway:
            key = self.settings.centrifugo_api_key
            return PushGateway(
                self.settings.centrifugo_api_url,
                api_key=key.get_secret_value() if key else None,
            )

        return self._once("push", build)

    @property
    def mailer(self) -> SmtpMailer:
        from taskpulse.mail import SmtpMailer

        def build() -> SmtpMailer:
            s = self.settings
            return SmtpMailer(
                host=s.smtp_host,
                port=s.smtp_port,
                sender=s.smtp_sender,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                starttls=s.smtp_starttls,
            )

        return self._once("mailer", build)

    def mail_to(self, user_id: str) -> str:
        return f"{user_id}@{self.settings.mail_domain}"

    def dead_letters(self) -> DeadLetters:
        return self._once("dead_letters", lambda: DeadLetters(self.dapr.publish))

    def app_api_token(self) -> str | None:
        token = self.settings.app_api_token
        return token.get_secret_value() if token else None

    def finish_job(self, name: str) -> None:
        """Stop a job's redeliveries once its work is done (see DaprClient.schedule_job).

        A failure only logs: a later redelivery finds the work done and ends it again.
        """
        try:
            self.dapr.delete_job(name)
        except Exception:
            log.warning("job %s: not deleted; its next redelivery will be a no-op", name)

    def close(self) -> None:
        """Release connections (tests and orderly shutdown)."""
        self.settle()
        with self._lock:
            parts, self._parts = self._parts, {}
        for name in ("dapr", "push"):
            if name in parts:
                parts[name].close()
        if "store" in parts:
            parts["store"].dispose()

    def execute(
        self, use_case: Callable[..., Outcome], command: _Command, event: CloudEvent
    ) -> Outcome:
        """Run a client command's use case once in a unit of work, then publish its events
        (keyed by the command's user)."""
        outcome = use_case(
            self.unit_of_work,
            command,
            source=event.source,
            event_id=event.id,
            traceparent=event.traceparent,
        )
        self.flush(outcome.outbox_ids, key=command.user_id)
        return outcome

    def flush(self, outbox_ids: Sequence[int], *, key: str) -> None:
        """Publish what a handler just committed, beside the request; now and then sweep.

        The answer to Dapr does not wait for Kafka: the events are committed, and a
        publisher thread sends them after the answer, together with whatever else queued
        up meanwhile (one relay call for many handlers). With several threads
        (``OUTBOX_PUBLISHERS``), ``key`` (the partition key, the user) picks the thread, so
        one key's events are sent by one thread in commit order. A crash before they are
        sent leaves them pending for the next sweep.
        """
        batch = self._batch()
        if batch is not None:  # published once the batch is committed
            batch.outbox_ids.setdefault(key, []).extend(outbox_ids)
            return
        publishers = self._publishers()
        if outbox_ids:
            publishers[zlib.crc32(key.encode()) % len(publishers)].put(tuple(outbox_ids))
        if self._due("sweep", SWEEP_EVERY_SECONDS):
            publishers[0].put(None)  # None: sweep everything pending

    def _due(self, chore: str, every: float) -> bool:
        """True at most once per ``every`` seconds for ``chore``, across threads."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_run.get(chore, float("-inf")) < every:
                return False
            self._last_run[chore] = now
            return True

    def _publishers(self) -> tuple[queue.Queue[tuple[int, ...] | None], ...]:
        def start() -> tuple[queue.Queue[tuple[int, ...] | None], ...]:
            queues = []
            for n in range(self.settings.outbox_publishers):
                work: queue.Queue[tuple[int, ...] | None] = queue.Queue()
                threading.Thread(
                    target=self._publish_forever,
                    args=(work,),
                    name=f"outbox-publisher-{n}",
                    daemon=True,
                ).start()
                queues.append(work)
            return tuple(queues)

        return self._once("publishers", start)

    def _publish_forever(self, work: queue.Queue[tuple[int, ...] | None]) -> None:
        # What is handed over within the linger, or queued up while this thread was busy,
        # goes out together: under load, one relay transaction and one request per topic
        # carry many handlers' events; an idle function publishes within the linger.
        most = max(1, self.settings.outbox_batch_size // 2)  # room for earlier rows of a key
        linger = self.settings.outbox_linger.total_seconds()
        while True:
            items = [work.get()]
            ids = list(items[0] or ())
            until = time.monotonic() + linger
            while len(ids) < most:
                try:
                    item = work.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                items.append(item)
                ids += item or ()
            try:
                if ids:
                    self._publish_now(tuple(ids))
                if None in items:
                    self.sweep()
            except Exception:
                log.exception("outbox publish failed; the sweep will retry")
            finally:
                for _ in items:
                    work.task_done()

    def _publish_now(self, ids: tuple[int, ...]) -> None:
        """Publish ``ids``; while another relay (a sweep) holds their key, retry briefly
        rather than leave them for the next sweep, SWEEP_EVERY_SECONDS away."""
        for pause in (0.0, *BUSY_KEY_PAUSES):
            time.sleep(pause)
            report = self.relay.publish(ids)
            OUTBOX_PUBLISHED.labels(self.function.value).inc(report.published)
            if report.failed:
                self._sweep_later()
            if not report.busy_keys:
                return

    def settle(self) -> None:
        """Wait until everything handed to the publisher has been tried (tests, shutdown)."""
        for work in self._parts.get("publishers", ()):
            work.join()

    def sweep(self) -> None:
        try:
            report = self.relay.sweep()
            OUTBOX_PUBLISHED.labels(self.function.value).inc(report.published)
            if report.failed:
                self._sweep_later()
            self._cleanup_when_due()
        except Exception:
            log.exception("outbox sweep failed; the next one will retry")
            self._sweep_later()

    def _sweep_later(self) -> None:
        """Wake this function to publish again: a function scaled to zero gets no request
        that would sweep, and its committed events would wait for the next one.

        A one-shot job on its own Dapr (overwritten, so one at a time); when Dapr itself is
        down that fails too, and the next request's sweep is the retry.
        """
        if not self._due("sweep job", SWEEP_JOB_AFTER.total_seconds()):
            return  # one is already due
        try:
            self.dapr.schedule_job(SWEEP_JOB, due_time=datetime.now(UTC) + SWEEP_JOB_AFTER, data={})
        except Exception as error:
            log.warning("outbox-sweep job not scheduled (%s); the next request sweeps", error)

    def sweep_job(self) -> Answer:
        """The outbox-sweep job fired: publish everything pending; RETRY while anything is
        left (the job comes back), done otherwise. Rows still in a failure's backoff are
        left too: the job must not end before they are out."""
        report = self.relay.sweep()
        OUTBOX_PUBLISHED.labels(self.function.value).inc(report.published)
        self._cleanup_when_due()
        if left := self.relay.pending():
            return Answer.retry(f"{left} event(s) not published yet")
        self.finish_job(SWEEP_JOB)
        return Answer("SUCCESS", f"published {report.published} pending event(s)")

    def _cleanup_when_due(self) -> None:
        """Idempotency rows past their retention and old published events would otherwise
        pile up forever; a busy function purges them now and then."""
        if not self._due("cleanup", CLEANUP_EVERY_SECONDS):
            return
        expired, published = self.store.cleanup()
        log.info("purged %d expired idempotency rows, %d published events", expired, published)
