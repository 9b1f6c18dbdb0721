"""The names of the public contract (docs/contract.md), defined once.

Every topic, event type, app id and route that appears in code, manifests or tests is
taken from here; the manifests under ``dapr-components/`` and ``knative/`` are checked
against this module by the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

PUBSUB_NAME = "pubsub-kafka"
"""The Dapr pub/sub component; Kafka is reached only through it."""

EVENT_SOURCE_PREFIX = "/taskpulse/"
"""``source`` of every event the system emits is this prefix + the function name."""

PUSH_CHANNEL_PREFIX = "tasks:user#"
"""Centrifugo channel of one user: prefix + user id (``#`` limits it to that user)."""


TOPIC_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
"""The largest record a topic accepts (Kafka's ``max.message.bytes``). Far above the 64 KiB
a function handles, so that an oversized event still reaches a function, which
dead-letters it with the reason; Kafka's default (1 MiB) refused such a record at produce
time, where the dead-letter topic never sees it."""


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    partitions: int
    retention: timedelta
    max_message_bytes: int = TOPIC_MAX_MESSAGE_BYTES

    @property
    def dead_letter(self) -> str:
        return f"{self.name}-dlq"


DEAD_LETTER_PARTITIONS = 1
DEAD_LETTER_RETENTION = timedelta(days=14)

TASK_EVENTS = Topic("task-events", partitions=3, retention=timedelta(days=7))
REMINDERS = Topic("reminders", partitions=2, retention=timedelta(hours=24))
TASK_UPDATES = Topic("task-updates", partitions=2, retention=timedelta(hours=1))
TOPICS: tuple[Topic, ...] = (TASK_EVENTS, REMINDERS, TASK_UPDATES)


def all_topics() -> tuple[Topic, ...]:
    """The contract's topics followed by their dead-letter topics."""
    dlqs = tuple(
        Topic(t.dead_letter, DEAD_LETTER_PARTITIONS, DEAD_LETTER_RETENTION) for t in TOPICS
    )
    return TOPICS + dlqs


# Here rather than in the domain: the contract's event data carries it, and this module
# depends on nothing of the package.
class RecurrenceMode(StrEnum):
    """When the next occurrence of a recurring task is created."""

    ON_COMPLETION = "on_completion"
    """The next occurrence is created when this one is completed."""
    ON_SCHEDULE = "on_schedule"
    """The next occurrence is created when its time comes, completed or not."""


class EventType(StrEnum):
    """CloudEvent ``type`` values. Versioned: a breaking change is a new type."""

    TASK_CREATE = "dev.taskpulse.task.create.v1"
    TASK_CREATED = "dev.taskpulse.task.created.v1"
    TASK_COMPLETED = "dev.taskpulse.task.completed.v1"
    TASK_CANCELLED = "dev.taskpulse.task.cancelled.v1"
    REMINDER_SCHEDULED = "dev.taskpulse.reminder.scheduled.v1"
    REMINDER_SENT = "dev.taskpulse.reminder.sent.v1"
    SERIES_ENDED = "dev.taskpulse.series.ended.v1"


EVENT_TOPICS: dict[EventType, tuple[Topic, ...]] = {
    EventType.TASK_CREATE: (TASK_EVENTS,),
    EventType.TASK_CREATED: (TASK_EVENTS, TASK_UPDATES),
    EventType.TASK_COMPLETED: (TASK_EVENTS, TASK_UPDATES),
    EventType.TASK_CANCELLED: (TASK_EVENTS, TASK_UPDATES),
    EventType.REMINDER_SCHEDULED: (REMINDERS,),
    EventType.REMINDER_SENT: (TASK_UPDATES,),
    EventType.SERIES_ENDED: (TASK_EVENTS, TASK_UPDATES),
}
"""The topics each type travels on (clients send completions and cancellations to
task-events; the system reports them on task-updates)."""


class Function(StrEnum):
    """The four functions; each name is also its Dapr app id and Knative service name."""

    CREATE_TASK = "create-task"
    COMPUTE_NEXT_OCCURRENCE = "compute-next-occurrence"
    SEND_REMINDER = "send-reminder"
    PUSH_UPDATE = "push-update"

    @property
    def source(self) -> str:
        return f"{EVENT_SOURCE_PREFIX}{self.value}"

    @property
    def is_public(self) -> bool:
        """End users call it directly, with an OpenID Connect access token
        (docs/contract.md#the-public-face-create-task-over-http); its Dapr routes and its
        metrics still need ``APP_API_TOKEN`` (docs/decisions/0018-the-public-face.md)."""
        return self is Function.CREATE_TASK


def consumer_group(function: Function, topic: Topic) -> str:
    """Kafka consumer group of one function on one topic (docs/contract.md#2-event-fabric)."""
    return f"{function.value}-{topic.name}-v1"


USER_ID_MAX = 255
USER_ID_FORBIDDEN = frozenset(",#/\\")
"""A user id is 1 to 255 printable ASCII characters without these or whitespace
(docs/contract.md#3-the-functions): a ``,`` would make a push channel several users may
join and a mail several recipients; ``#`` and ``/`` separate channel and path parts."""
USER_ID_PATTERN = r'^[!"$-+\-.0-\[\]-~]{1,255}$'
"""The same rule as a regular expression (for the JSON Schemas)."""


def user_id_fault(value: str) -> str | None:
    """What is wrong with ``value`` as a user id, or ``None``."""
    if not 1 <= len(value) <= USER_ID_MAX:
        return f"must be 1-{USER_ID_MAX} characters (got {len(value)})"
    for char in value:
        if not "!" <= char <= "~":
            return f"may hold only printable ASCII without whitespace (not {char!r})"
        if char in USER_ID_FORBIDDEN:
            return f"may not contain {char!r}"
    return None


def push_channel(user_id: str) -> str:
    if (fault := user_id_fault(user_id)) is not None:
        raise ValueError(f"user_id {fault}")
    return f"{PUSH_CHANNEL_PREFIX}{user_id}"


EVENT_ROUTE_PREFIX = "/events/"
"""Where every subscription path lies: a delivery to a path of this prefix that a
function does not serve comes from a subscription of another release."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One declarative Dapr subscription: events of ``types`` on ``topic`` go to ``path``."""

    function: Function
    topic: Topic
    types: tuple[EventType, ...]
    path: str
    data_present: tuple[str, ...] = ()
    """Only events whose ``data`` has these fields set to a string (not null, not absent).
    daprd evaluates it, so the other events of these types neither reach nor wake the
    function."""
    gate: bool = False
    """The topic's gate: daprd hands ``path`` every record of the topic unparsed (Dapr's
    ``rawPayload``), so bytes daprd could not read as a CloudEvent reach a function too.
    The gate handles ``types``, lets the topic's other contract types pass, and
    dead-letters everything else with the reason. Exactly one per topic; routing rules
    cannot see a raw record's type, so a gate is its function's only entry on the topic.
    A gate takes its records in bulk (Dapr's ``bulkSubscribe``): what waited in one
    partition comes in one request."""

    def __post_init__(self) -> None:
        if not self.path.startswith(EVENT_ROUTE_PREFIX):
            raise ValueError(f"subscription path {self.path} is not under {EVENT_ROUTE_PREFIX}")

    @property
    def name(self) -> str:
        return f"{self.function.value}-{self.path.rsplit('/', 1)[-1]}"


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # compute-next-occurrence reads every record of task-events: the completions and
    # cancellations it handles are most of the topic, and the records arrive in the same
    # bulk deliveries whatever their type. So create-task, whose commands are few, is
    # woken only by them (daprd routes on the type), and a bare completion costs one
    # delivery to one function rather than two.
    Subscription(
        Function.COMPUTE_NEXT_OCCURRENCE,
        TASK_EVENTS,
        (EventType.TASK_COMPLETED, EventType.TASK_CANCELLED, EventType.TASK_CREATED),
        "/events/task-events",
        gate=True,
    ),
    Subscription(
        Function.CREATE_TASK,
        TASK_EVENTS,
        (EventType.TASK_CREATE,),
        "/events/task-create",
    ),
    Subscription(
        Function.SEND_REMINDER,
        REMINDERS,
        (EventType.REMINDER_SCHEDULED,),
        "/events/reminder-scheduled",
        gate=True,
    ),
    # The facts on task-updates, emitted once the completion or cancellation is recorded:
    # not the clients' commands on task-events, which compute-next-occurrence may still
    # refuse (the reminder of a task that stays open would be gone). Only tasks that had
    # a reminder: the others have no job to delete, and need not wake the function.
    Subscription(
        Function.SEND_REMINDER,
        TASK_UPDATES,
        (EventType.TASK_COMPLETED, EventType.TASK_CANCELLED),
        "/events/task-closed",
        data_present=("remind_at",),
    ),
    Subscription(
        Function.PUSH_UPDATE,
        TASK_UPDATES,
        tuple(EventType),
        "/events/task-update",
        gate=True,
    ),
)
"""Every subscription of the system; manifests are generated from and checked against it."""


def home_topic(function: Function) -> Topic:
    """The topic whose dead-letter topic takes what reaches ``function`` outside its
    subscriptions (``POST /``) and names no type it subscribes to: its gate's topic, or
    the only topic it subscribes to."""
    mine = [s for s in SUBSCRIPTIONS if s.function is function]
    gates = [s.topic for s in mine if s.gate]
    topics = gates or list(dict.fromkeys(s.topic for s in mine))
    if len(topics) != 1:
        raise ValueError(f"{function.value} has no single home topic: {topics}")
    return topics[0]


def gate_of(topic: Topic) -> Subscription:
    """The subscription that reads every record of ``topic`` (see ``Subscription.gate``)."""
    (gate,) = [s for s in SUBSCRIPTIONS if s.topic == topic and s.gate]
    return gate


def types_on(topic: Topic) -> frozenset[EventType]:
    """The event types the contract puts on ``topic``."""
    return frozenset(t for t, topics in EVENT_TOPICS.items() if topic in topics)


JOB_ROUTE_PREFIX = "/job/"
"""Dapr delivers a job trigger as ``POST /job/<job name>`` to the app that scheduled it."""

SWEEP_JOB = "outbox-sweep"
"""The job through which a function with an outbox wakes itself to publish what failed."""


# ----------------------------------------------------------------------------- Kafka access
# What each principal may do on the brokers (docs/contract.md#2-event-fabric): Kafka's ACLs,
# Dapr's publishing and subscription scopes and KEDA's lag triggers are all derived from
# these, locally and in the cluster (docs/decisions/0029-kafka-identities.md).

PUBLISHES: dict[Function, tuple[Topic, ...]] = {
    # task.created (task-events, task-updates), its reminder, and the completions and
    # cancellations its HTTP face queues as commands on task-events.
    Function.CREATE_TASK: (TASK_EVENTS, TASK_UPDATES, REMINDERS),
    # The next occurrence and its reminder, the facts of completion, cancellation, series end.
    Function.COMPUTE_NEXT_OCCURRENCE: (TASK_EVENTS, TASK_UPDATES, REMINDERS),
    Function.SEND_REMINDER: (TASK_UPDATES,),
    Function.PUSH_UPDATE: (),
}
"""The contract topics each function's events go to (dead-letter topics aside)."""

BACKEND_PRINCIPAL = "taskpulse-backend"
"""The Kafka identity of trusted backends that send commands to ``task-events``
(docs/contract.md#2-event-fabric); it reads nothing."""

BACKEND_PUBLISHES: tuple[Topic, ...] = (TASK_EVENTS,)


def reads(function: Function) -> tuple[Topic, ...]:
    """The topics ``function`` consumes, in the order of its subscriptions."""
    return tuple(dict.fromkeys(s.topic for s in SUBSCRIPTIONS if s.function is function))


def writes(function: Function) -> tuple[str, ...]:
    """Every topic ``function``'s daprd may produce to: its events' topics and the
    dead-letter topics of what it reads (daprd's and its own dead letters)."""
    return tuple(t.name for t in PUBLISHES[function]) + tuple(
        t.dead_letter for t in reads(function)
    )


def group_prefix(function: Function) -> str:
    """Every consumer group of ``function`` starts so (``consumer_group``); its principal may
    join only those, so a later ``-v2`` group needs no new grant."""
    return f"{function.value}-"
