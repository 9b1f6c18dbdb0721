"""compute-next-occurrence: completions, cancellations, and on_schedule series' jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from taskpulse.contract import EventType, Function
from taskpulse.dapr_app import EventHandler, FunctionApp, Handlers, Verdict
from taskpulse.domain import RecurrenceMode
from taskpulse.events import (
    CloudEvent,
    TaskCancelledData,
    TaskCompletedData,
    TaskData,
    parse_data,
)
from taskpulse.runtime import Runtime

if TYPE_CHECKING:
    from taskpulse.ports import UnitOfWork

log = logging.getLogger("taskpulse.next_occurrence")
JOB_PREFIX = "occurrence-"


def occurrence_job(series_id: str, task_id: str) -> str:
    return f"{JOB_PREFIX}{series_id}-{task_id}"


def build(runtime: Runtime) -> FunctionApp:
    from taskpulse.services import series as service

    def handlers(units: Callable[[], UnitOfWork]) -> Handlers:
        """The event handlers, each running its use case in units of work of ``units``:
        the function's own, or those of one bulk delivery's transaction."""
        return {
            EventType.TASK_COMPLETED: command(service.complete_task, TaskCompletedData, units),
            EventType.TASK_CANCELLED: command(service.cancel_task, TaskCancelledData, units),
            EventType.TASK_CREATED: lambda event: created(event, units),
        }

    def command(
        run: Callable[..., service.Result],
        model: type[TaskCompletedData] | type[TaskCancelledData],
        units: Callable[[], UnitOfWork],
    ) -> EventHandler:
        """A client command on a task: decode, run the use case once."""

        def handle(event: CloudEvent) -> Verdict:
            result = runtime.execute(run, parse_data(event, model), event, units=units)
            return Verdict("SUCCESS", result.note)

        return handle

    def created(event: CloudEvent, units: Callable[[], UnitOfWork]) -> Verdict:
        """An on_schedule occurrence: the job that creates the next one fires at its due time.

        The job is scheduled here, through this function's own Dapr, because a job
        trigger only ever reaches the app id that scheduled it.
        """
        # Every task.created on the topic comes here (this function reads all of it), and
        # few are on_schedule: look at the mode before validating the whole task.
        data = event.data
        if isinstance(data, dict) and data.get("recurrence_mode") != RecurrenceMode.ON_SCHEDULE:
            return Verdict.success()
        announced = parse_data(event, TaskData)
        if announced.recurrence_mode is not RecurrenceMode.ON_SCHEDULE:
            return Verdict.success()
        # Anyone who may write to task-events can send a task.created: the job is made from
        # the stored task, and only when the event describes it.
        with units() as uow:
            task = uow.tasks.get(announced.id)
        if task is None:
            return Verdict.drop(f"task {announced.id} does not exist")
        task.ensure_owner(announced.user_id)
        if (task.series_id, task.occurrence_at) != (announced.series_id, announced.occurrence_at):
            return Verdict.drop(f"task.created does not match the stored task {task.id}")
        if task.series_id is None or task.occurrence_at is None:
            return Verdict.drop(f"on_schedule task {task.id} has no series or occurrence_at")
        runtime.dapr.schedule_job(
            occurrence_job(task.series_id, task.id),
            due_time=task.occurrence_at,
            data={"series_id": task.series_id, "task_id": task.id, "user_id": task.user_id},
        )
        return Verdict.success()

    def job(name: str, data: Any) -> Verdict:
        if not name.startswith(JOB_PREFIX) or not isinstance(data, dict):
            return Verdict.drop(f"unknown job {name}")
        result = service.advance_on_schedule(
            runtime.unit_of_work, series_id=str(data["series_id"]), task_id=str(data["task_id"])
        )
        runtime.dapr.finish_job(name)
        return Verdict("SUCCESS", result.note)

    return FunctionApp(
        Function.COMPUTE_NEXT_OCCURRENCE,
        handlers=handlers(runtime.unit_of_work),
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        sweep_job=runtime.publisher.sweep_job,
        max_event_bytes=runtime.settings.max_event_bytes,
        jobs=job,
        batch=lambda: _bound(runtime.batch(), handlers),
    )


@contextmanager
def _bound(
    transaction: AbstractContextManager[Callable[[], UnitOfWork]],
    handlers: Callable[[Callable[[], UnitOfWork]], Handlers],
) -> Iterator[Handlers]:
    """The handlers of one bulk delivery, bound to the units of work of its transaction."""
    with transaction as units:
        yield handlers(units)
