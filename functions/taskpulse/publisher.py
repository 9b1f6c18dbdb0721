"""The outbox publisher of one function: what happens to committed events after the commit.

A unit of work hands the ids of the events it committed to :meth:`OutboxPublisher.hand`.
The answer to Dapr does not wait for Kafka: a publisher thread sends the events after
the answer, together with whatever else was handed over meanwhile (one relay call for
many handlers). Now and then it also sweeps: publishes what a crash or another replica
left pending and, when a publish failed, schedules the outbox-sweep job that wakes a
function scaled to zero to try again. Once an hour it purges expired idempotency rows
and old published events.

Nothing here is built before the first event that needs it: push-update, which stores
nothing, never starts a thread or imports the store.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from taskpulse.contract import SWEEP_JOB, Function
from taskpulse.dapr_app import Verdict
from taskpulse.observability import OUTBOX_PUBLISHED
from taskpulse.settings import Settings

if TYPE_CHECKING:
    from taskpulse.dapr import DaprClient
    from taskpulse.store.outbox import OutboxRelay

log = logging.getLogger("taskpulse.publisher")

SWEEP_EVERY_SECONDS = 30.0
"""How often a busy function also publishes what others (or a crash) left in the outbox."""
BUSY_KEY_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.5)
"""Pauses before each retry while another relay publishes the same key (about 0.9 s)."""
SWEEP_JOB_AFTER = timedelta(seconds=30)
"""When a publish failed: the outbox-sweep job fires this much later (then every 15 s
while it still fails, see DaprClient.schedule_job)."""
CLEANUP_EVERY_SECONDS = 3600.0
"""How often a busy function purges expired idempotency rows and old published events."""

_Work = queue.Queue[tuple[int, ...] | None]
"""A publisher thread's queue: outbox ids to publish, or None for a sweep."""


class OutboxPublisher:
    def __init__(
        self,
        function: Function,
        settings: Settings,
        *,
        relay: Callable[[], OutboxRelay],
        dapr: Callable[[], DaprClient],
        cleanup: Callable[[], tuple[int, int]],
    ) -> None:
        self._function = function
        self._settings = settings
        self._relay = relay
        self._dapr = dapr
        self._cleanup = cleanup
        self._lock = threading.Lock()
        self._queues: tuple[_Work, ...] | None = None
        # When each periodic chore last ran (monotonic); cleanup waits a full period.
        self._last_run: dict[str, float] = {"cleanup": time.monotonic()}

    def hand(self, added: Mapping[str, Sequence[int]]) -> None:
        """Publish what a unit of work just committed (ids per partition key); sweep when due.

        With several threads (``OUTBOX_PUBLISHERS``) the key (the user) picks the thread,
        so one key's events are sent by one thread in commit order. A crash before they
        are sent leaves them pending for the next sweep.
        """
        queues = self._started()
        for key, ids in added.items():
            if ids:
                queues[zlib.crc32(key.encode()) % len(queues)].put(tuple(ids))
        if self._due("sweep", SWEEP_EVERY_SECONDS):
            queues[0].put(None)

    def drain(self) -> None:
        """Wait until everything handed over has been tried (tests, shutdown)."""
        for work in self._queues or ():
            work.join()

    def sweep(self) -> None:
        try:
            report = self._relay().sweep()
            OUTBOX_PUBLISHED.labels(self._function.value).inc(report.published)
            if report.failed:
                self._sweep_later()
            self._cleanup_when_due()
        except Exception:
            log.exception("outbox sweep failed; the next one will retry")
            self._sweep_later()

    def sweep_job(self) -> Verdict:
        """The outbox-sweep job fired: publish everything pending; RETRY while anything is
        left (the job comes back), done otherwise. Rows still in a failure's backoff are
        left too: the job must not end before they are out."""
        relay = self._relay()
        report = relay.sweep()
        OUTBOX_PUBLISHED.labels(self._function.value).inc(report.published)
        self._cleanup_when_due()
        if left := relay.pending():
            return Verdict.retry(f"{left} event(s) not published yet")
        self._dapr().finish_job(SWEEP_JOB)
        return Verdict("SUCCESS", f"published {report.published} pending event(s)")

    # -- the threads -----------------------------------------------------------------

    def _started(self) -> tuple[_Work, ...]:
        with self._lock:
            if self._queues is None:
                self._queues = tuple(
                    self._start(n) for n in range(self._settings.outbox_publishers)
                )
            return self._queues

    def _start(self, number: int) -> _Work:
        work: _Work = queue.Queue()
        threading.Thread(
            target=self._publish_forever,
            args=(work,),
            name=f"outbox-publisher-{number}",
            daemon=True,
        ).start()
        return work

    def _publish_forever(self, work: _Work) -> None:
        # What is handed over within the linger, or queued up while this thread was busy,
        # goes out together: under load, one relay transaction and one request per topic
        # carry many handlers' events; an idle function publishes within the linger.
        most = max(1, self._settings.outbox_batch_size // 2)  # room for earlier rows of a key
        linger = self._settings.outbox_linger.total_seconds()
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
            report = self._relay().publish(ids)
            OUTBOX_PUBLISHED.labels(self._function.value).inc(report.published)
            if report.failed:
                self._sweep_later()
            if not report.busy_keys:
                return

    # -- chores ----------------------------------------------------------------------

    def _due(self, chore: str, every: float) -> bool:
        """True at most once per ``every`` seconds for ``chore``, across threads."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_run.get(chore, float("-inf")) < every:
                return False
            self._last_run[chore] = now
            return True

    def _sweep_later(self) -> None:
        """Wake this function to publish again: a function scaled to zero gets no request
        that would sweep, and its committed events would wait for the next one.

        A one-shot job on its own Dapr (overwritten, so one at a time); when Dapr itself is
        down that fails too, and the next request's sweep is the retry.
        """
        if not self._due("sweep job", SWEEP_JOB_AFTER.total_seconds()):
            return  # one is already due
        try:
            due = datetime.now(UTC) + SWEEP_JOB_AFTER
            self._dapr().schedule_job(SWEEP_JOB, due_time=due, data={})
        except Exception as error:
            log.warning("outbox-sweep job not scheduled (%s); the next request sweeps", error)

    def _cleanup_when_due(self) -> None:
        """Idempotency rows past their retention and old published events would otherwise
        pile up forever; a busy function purges them now and then."""
        if not self._due("cleanup", CLEANUP_EVERY_SECONDS):
            return
        expired, published = self._cleanup()
        log.info("purged %d expired idempotency rows, %d published events", expired, published)
