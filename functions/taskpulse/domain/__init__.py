"""Pure task rules: nothing here knows about HTTP, Dapr or SQL."""

from taskpulse.contract import RecurrenceMode
from taskpulse.domain.errors import (
    DomainError,
    InvalidTask,
    InvalidTransition,
    NotOwner,
    TaskNotFound,
)
from taskpulse.domain.tasks import Priority, Task, TaskStatus, validate_fields

__all__ = [
    "DomainError",
    "InvalidTask",
    "InvalidTransition",
    "NotOwner",
    "Priority",
    "RecurrenceMode",
    "Task",
    "TaskNotFound",
    "TaskStatus",
    "validate_fields",
]
