"""Idempotency and the outbox against the real PostgreSQL: one effect, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from support import RecordingPublisher, create_tasks
from taskpulse.domain import InvalidTask, NotOwner, TaskStatus
from taskpulse.events import TaskCreateData
from taskpulse.services.create import Created, create_task
from taskpulse.services.keys import Origin
from taskpulse.store import Store

REPO = Path(__file__).resolve().parents[2]


def command(user: str = "alice", **extra: object) -> TaskCreateData:
    due = datetime.now(UTC) + timedelta(days=1)
    return TaskCreateData.model_validate(
        {"user_id": user, "title": "Pay rent", "due_at": due, **extra}
    )


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_twenty_concurrent_deliveries_make_one_task_and_twenty_identical_answers(
    store: Store,
) -> None:
    cmd = command(remind_before="PT15M")
    barrier = threading.Barrier(20)
    results: list[Created] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        try:
            result = create_task(store.unit_of_work, cmd, Origin("/clients/web", "evt-1"))
        except BaseException as error:
            with lock:
                errors.append(error)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 20
    assert sum(result.new for result in results) == 1
    assert len({result.task.id for result in results}) == 1
    assert len({str(sorted(result.event.items())) for result in results}) == 1
    assert count(store, "tasks") == 1
    # task.created twice (task-events, task-updates) and one reminder.scheduled
    assert count(store, "outbox") == 3
    assert count(store, "processed_events") == 1


def test_a_different_command_id_is_a_different_task(store: Store) -> None:
    first = create_task(store.unit_of_work, command(), Origin("/clients/web", "a"))
    second = create_task(store.unit_of_work, command(), Origin("/clients/web", "b"))
    other_source = create_task(store.unit_of_work, command(), Origin("/clients/cli", "a"))
    assert len({first.task.id, second.task.id, other_source.task.id}) == 3


def test_invalid_commands_store_nothing(store: Store) -> None:
    with pytest.raises(InvalidTask, match="remind_before needs due_at"):
        create_task(
            store.unit_of_work,
            TaskCreateData(user_id="alice", title="x", remind_before=timedelta(minutes=5)),
            Origin("/c", "1"),
        )
    assert count(store, "tasks") == 0
    assert count(store, "processed_events") == 0


def test_an_event_for_another_users_task_changes_nothing(store: Store) -> None:
    created = create_task(store.unit_of_work, command("alice"), Origin("/c", "1"))
    with store.unit_of_work() as uow:
        task = uow.tasks.get(created.task.id, for_update=True)
        assert task is not None
        with pytest.raises(NotOwner, match="does not belong to user 'mallory'"):
            task.complete(by="mallory", at=uow.now)
    with store.unit_of_work() as uow:
        unchanged = uow.tasks.get(created.task.id)
    assert unchanged == created.task
    assert unchanged is not None and unchanged.status is TaskStatus.OPEN


CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    from taskpulse.events import TaskCreateData
    from taskpulse.services.create import create_task
    from taskpulse.services.keys import Origin
    from taskpulse.store import Store

    store = Store(sys.argv[1])
    for n in range(int(sys.argv[2])):
        create_task(
            store.unit_of_work,
            TaskCreateData(user_id=f"user-{n % 3}", title=f"task {n}"),
            Origin("/crash-test", str(n)),
        )
    # Committed, not yet published: die the hardest way there is.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_sigkill_between_commit_and_publish_loses_nothing_and_doubles_nothing(
    store: Store, database_url: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CRASHER, database_url, "25"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    assert count(store, "tasks") == 25

    publisher = RecordingPublisher()
    report = store.relay(publisher, batch_size=7).sweep()
    assert report.published == 50
    assert set(publisher.counts().values()) == {1}
    assert store.relay(publisher).sweep().published == 0
    assert len(publisher.published) == 50


def _ids_by_key(publisher: RecordingPublisher, topic: str) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for published_topic, key, event in publisher.published:
        if published_topic == topic:
            seen.setdefault(key, []).append(int(event["data"]["title"].split()[-1]))
    return seen


def test_a_failed_publish_holds_back_later_events_of_the_same_key_only(store: Store) -> None:
    created = create_tasks(store.unit_of_work, 6, source="/order", user=lambda n: f"user-{n % 2}")
    clock = [datetime.now(UTC)]
    stuck = created[2].event["id"]  # user-0's second task
    publisher = RecordingPublisher(fail_ids={stuck})
    relay = store.relay(publisher, max_backoff=timedelta(seconds=30))
    relay._clock = lambda: clock[0]  # the test moves time instead of sleeping

    relay.sweep()
    by_key = _ids_by_key(publisher, "task-events")
    assert by_key["user-1"] == [1, 3, 5]
    assert by_key["user-0"] == [0]

    publisher.fail_ids.clear()
    assert relay.sweep().published == 0  # still backing off
    clock[0] += timedelta(seconds=31)
    relay.sweep()
    assert _ids_by_key(publisher, "task-events")["user-0"] == [0, 2, 4]
    assert set(publisher.counts().values()) == {1}


class AcceptsAfterARefusal(RecordingPublisher):
    """A broker that refuses one entry yet accepts the key's next one in the same request
    (Kafka does not: it answers for a partition's records together)."""

    def publish_many(
        self, topic: str, entries: Sequence[tuple[str, dict[str, Any]]]
    ) -> dict[int, str]:
        failed: dict[int, str] = {}
        for n, (key, event) in enumerate(entries):
            if event["id"] in self.fail_ids:
                failed[n] = "refused"
            else:
                self.published.append((topic, key, event))
        return failed


def test_a_row_accepted_after_its_keys_refusal_is_published_again_after_it(
    store: Store,
) -> None:
    created = create_tasks(store.unit_of_work, 3, source="/after", user="user-0")
    clock = [datetime.now(UTC)]
    publisher = AcceptsAfterARefusal(fail_ids={created[1].event["id"]})
    relay = store.relay(publisher, max_backoff=timedelta(seconds=30))
    relay._clock = lambda: clock[0]

    # Task 0 on both topics; task 2 went out on task-events but is not counted, and
    # nothing after task 1's failure is sent on task-updates.
    assert relay.sweep().published == 2
    assert _ids_by_key(publisher, "task-events")["user-0"] == [0, 2]
    assert _ids_by_key(publisher, "task-updates")["user-0"] == [0]
    publisher.fail_ids.clear()
    clock[0] += timedelta(seconds=31)
    assert relay.sweep().published == 4
    # 2 again after 1: consumers drop the duplicate; nothing is missing.
    assert _ids_by_key(publisher, "task-events")["user-0"] == [0, 2, 1, 2]
    assert _ids_by_key(publisher, "task-updates")["user-0"] == [0, 1, 2]
    assert relay.pending() == 0


def test_concurrent_relays_publish_each_event_once_in_key_order(store: Store) -> None:
    create_tasks(store.unit_of_work, 60, source="/relays", user=lambda n: f"user-{n % 4}")
    publisher = RecordingPublisher()
    relays = [store.relay(publisher, batch_size=5) for _ in range(4)]
    threads = [threading.Thread(target=relay.sweep) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.relay(publisher).sweep()  # whatever a skipped key left behind

    assert len(publisher.published) == 120
    assert set(publisher.counts().values()) == {1}
    for ids in _ids_by_key(publisher, "task-events").values():
        assert ids == sorted(ids)


def test_cleanup_purges_expired_idempotency_rows_and_old_published_events(store: Store) -> None:
    create_task(store.unit_of_work, command(), Origin("/c", "1"))
    store.relay(RecordingPublisher()).sweep()
    assert store.cleanup() == (0, 0)
    later = Store(
        str(store.engine.url.render_as_string(hide_password=False)),
        clock=lambda: datetime.now(UTC) + timedelta(days=30),
    )
    try:
        assert later.cleanup() == (1, 2)  # task.created on two topics
    finally:
        later.dispose()
