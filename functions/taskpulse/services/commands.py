"""Use case: accept a client's command on a task, to be carried out in order.

Completions and cancellations are carried out by compute-next-occurrence, from
task-events, in the order of the user's partition. A command that arrives over HTTP is
put in that same order: it is queued for task-events through the outbox, in the
transaction that remembers it, and answered 202. Carrying it out here instead would race
the commands the same user sends through Kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskpulse.contract import TASK_EVENTS
from taskpulse.domain import InvalidTransition, TaskNotFound
from taskpulse.events import TaskCancelledData, TaskCompletedData
from taskpulse.ports import UnitOfWork
from taskpulse.services.emit import emit
from taskpulse.services.keys import Origin


@dataclass(frozen=True, slots=True)
class Queued:
    new: bool
    """False when the same command was queued before: nothing new was queued."""


def queue_command(
    unit_of_work: Callable[[], UnitOfWork],
    data: TaskCompletedData | TaskCancelledData,
    origin: Origin,
    event: dict[str, Any],
) -> Queued:
    """Queue ``event`` (the command, ``data`` decoded) for task-events once per origin.

    A task that does not exist or is another user's is refused here, alike, so that the
    answer does not tell which (no existence leak)."""
    with unit_of_work() as uow:
        task = uow.tasks.get(data.task_id)
        if task is None or task.user_id != data.user_id:
            raise TaskNotFound(f"task {data.task_id} not found")
        prior = uow.processed.claim(origin.queue_key, result_id=data.task_id)
        if prior is not None:
            if prior.result_id != data.task_id:
                raise InvalidTransition(
                    f"command {origin.event_id!r} from {origin.source!r} was already used "
                    "for another task: give each command a new CloudEvent id"
                )
            return Queued(new=False)
        emit(uow, event, TASK_EVENTS)
        uow.commit()
        return Queued(new=True)
