"""Use cases of reminders: schedule the one-shot job, and deliver when it fires.

Delivery happens at most once per reminder and channel: the channel's idempotency key is
committed before the send, and released only when the channel says for certain that
nothing was delivered. A permanent refusal (the mail server's 5xx for the recipient, the
push gateway refusing the publication itself) keeps the key, marked rejected, and
``reminder.sent`` names only the channels that delivered.
The push channel is also protected by the gateway's own idempotency key, so its retries
cannot show a reminder twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from taskpulse.contract import TASK_UPDATES, EventType, Function
from taskpulse.domain import TaskStatus
from taskpulse.events import ReminderScheduledData, ReminderSentData
from taskpulse.ports import ChannelError, Mail, Mailer, MailError, Outcome, Pusher, UnitOfWork
from taskpulse.services.emit import about, emit, fact
from taskpulse.services.keys import moment_key

log = logging.getLogger("taskpulse.reminders")
SOURCE = Function.SEND_REMINDER
RESCHEDULED = "reminder was rescheduled"


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: tuple[str, ...]
    """Channels that delivered, in this trigger or an earlier one."""
    skipped: str | None = None
    announced: bool = field(default=False, compare=False)
    """This trigger finished the delivery (and emitted ``reminder.sent``): a repeat did not."""


def deliver(
    unit_of_work: Callable[[], UnitOfWork],
    data: ReminderScheduledData,
    *,
    pusher: Pusher,
    mailer: Mailer,
    mail_to: Callable[[str], str | None],
    traceparent: str | None = None,
) -> Delivery:
    """Deliver a fired reminder unless it went stale (task done, cancelled, rescheduled).

    The mail goes to the address the user's issuer verified, else to ``mail_to(user)``
    (a deployment whose user ids are mailbox names); with neither, there is no mail."""
    with unit_of_work() as uow:
        task = uow.tasks.get(data.task_id)
        if task is None:
            return Delivery((), skipped="task no longer exists")
        task.ensure_owner(data.user_id)
        if task.status is not TaskStatus.OPEN:
            return Delivery((), skipped=f"task is {task.status.value}")
        if task.remind_at != data.remind_at:
            return Delivery((), skipped=RESCHEDULED)
        address = uow.users.email_of(task.user_id) or mail_to(task.user_id)
    reminder = moment_key(data.user_id, data.task_id, data.remind_at)
    delivered: list[Literal["push", "email"]] = []
    """Channels that delivered, in this trigger or an earlier one: what reminder.sent says."""
    push_data = {
        "type": "reminder",
        "task_id": task.id,
        "title": task.title,
        "due_at": data.due_at.isoformat(),
        "remind_at": data.remind_at.isoformat(),
    }

    def once(
        channel: Literal["push", "email"],
        send: Callable[[], None],
        *,
        retry_safe: Callable[[Exception], bool],
    ) -> None:
        """Claim the channel, send, and give the claim back when sending again is safe.

        A permanent refusal keeps the claim, marked rejected: retrying cannot help, and the
        other channel's reminder must not wait for it."""
        key = f"reminder:{channel}:{reminder}"
        with unit_of_work() as uow:
            prior = uow.processed.claim(key)
            if prior is not None:
                if prior.outcome is Outcome.DONE:
                    delivered.append(channel)
                return
            uow.commit()
        try:
            send()
        except Exception as error:
            refused_for_good = isinstance(error, ChannelError) and error.permanent
            if refused_for_good or retry_safe(error):
                with unit_of_work() as uow:
                    if refused_for_good:  # kept, marked: sending again cannot help
                        uow.processed.reject(key, detail=str(error)[:500])
                    else:  # certainly not sent: the next trigger sends
                        uow.processed.release(key)
                    uow.commit()
            if not refused_for_good:
                raise  # a claim still held means: maybe sent (at most once)
            log.warning("reminder %s: %s refused for good: %s", reminder, channel, error)
            return
        delivered.append(channel)

    # Any push failure: the gateway drops a repeat of the same idempotency key.
    once(
        "push",
        lambda: pusher.publish(task.user_id, push_data, idempotency_key=reminder),
        retry_safe=lambda _error: True,
    )
    if address is None:
        log.info("reminder %s: no verified e-mail address for the user; push only", reminder)
    else:
        to = address
        once(
            "email",
            lambda: mailer.send(
                Mail(
                    to=to,
                    subject=f"Reminder: {task.title}",
                    body=f"{task.title}\nDue {data.due_at.isoformat()}\n",
                    message_id=f"<{reminder}@taskpulse>",
                )
            ),
            # Only what the mailer knows was not accepted; anything else may have been
            # sent (at most once: the claim stays, and the reminder says it was).
            retry_safe=lambda error: isinstance(error, MailError) and error.definitely_not_sent,
        )
    with unit_of_work() as uow:
        announced = uow.processed.claim(f"reminder:sent:{reminder}", result_id=task.id) is None
        if announced:
            emit(
                uow,
                fact(
                    EventType.REMINDER_SENT,
                    task,
                    ReminderSentData(
                        **about(task),
                        remind_at=data.remind_at,
                        sent_at=uow.now,
                        channels=delivered,
                    ),
                    source=SOURCE,
                    traceparent=traceparent,
                    key=f"{reminder}:sent",
                ),
                TASK_UPDATES,
            )
        uow.commit()
        return Delivery(tuple(delivered), announced=announced)
