"""send-reminder: one Dapr job per reminder, delivered once when it fires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from taskpulse.contract import EventType, Function
from taskpulse.dapr_app import FunctionApp, Verdict
from taskpulse.events import (
    CloudEvent,
    ReminderScheduledData,
    TaskCancelledData,
    TaskCompletedData,
    parse_data,
)
from taskpulse.observability import REMINDER_LATENESS
from taskpulse.runtime import Runtime

JOB_PREFIX = "reminder-"


def reminder_job(task_id: str) -> str:
    """One reminder per task: a rescheduled reminder overwrites the job of the old one."""
    return f"{JOB_PREFIX}{task_id}"


def build(runtime: Runtime) -> FunctionApp:
    def scheduled(event: CloudEvent) -> Verdict:
        data = parse_data(event, ReminderScheduledData)
        runtime.dapr.schedule_job(
            reminder_job(data.task_id),
            due_time=data.remind_at,
            data=data.model_dump(mode="json"),
        )
        return Verdict.success()

    def closed(event: CloudEvent) -> Verdict:
        data: TaskCompletedData | TaskCancelledData = (
            parse_data(event, TaskCompletedData)
            if event.type == EventType.TASK_COMPLETED
            else parse_data(event, TaskCancelledData)
        )
        with runtime.unit_of_work() as uow:
            task = uow.tasks.get(data.task_id)
        if task is None:
            return Verdict("SUCCESS", f"task {data.task_id} does not exist: no reminder")
        # Someone else's event changes nothing (NotOwner: dead-lettered with the reason).
        task.ensure_owner(data.user_id)
        if task.remind_before is not None:
            # Only a cleanup: a reminder that fires anyway re-reads the task and stays silent.
            runtime.dapr.finish_job(reminder_job(task.id))
        return Verdict.success()

    def job(name: str, body: Any) -> Verdict:
        from taskpulse.services.reminders import RESCHEDULED, deliver

        if not name.startswith(JOB_PREFIX):
            return Verdict.drop(f"unknown job {name}")
        try:
            data = ReminderScheduledData.model_validate(body)
        except ValidationError as error:
            return Verdict.drop(f"job {name}: invalid data: {error.error_count()} error(s)")
        delivery = deliver(
            runtime.unit_of_work,
            data,
            pusher=runtime.push,
            mailer=runtime.mailer,
            mail_to=runtime.mail_to,
        )
        if delivery.announced and delivery.sent:
            late = datetime.now(UTC) - data.remind_at
            REMINDER_LATENESS.observe(max(0.0, late.total_seconds()))
        if delivery.skipped != RESCHEDULED:
            # A rescheduled reminder's job was overwritten under the same name: keep it.
            runtime.dapr.finish_job(name)
        return Verdict("SUCCESS", delivery.skipped and f"not delivered: {delivery.skipped}")

    return FunctionApp(
        Function.SEND_REMINDER,
        handlers={
            EventType.REMINDER_SCHEDULED: scheduled,
            EventType.TASK_COMPLETED: closed,
            EventType.TASK_CANCELLED: closed,
        },
        dead_letters=runtime.dead_letters,
        app_api_token=runtime.app_api_token,
        sweep_job=runtime.publisher.sweep_job,
        max_event_bytes=runtime.settings.max_event_bytes,
        jobs=job,
    )
