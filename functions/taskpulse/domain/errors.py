"""Errors of the task rules. None of them is transient: retrying cannot fix them."""

from __future__ import annotations

from taskpulse.errors import Permanent


class DomainError(Permanent, ValueError):
    """A command that breaks a rule of the domain; ``reason`` is a stable machine word."""

    reason: str = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTask(DomainError):
    reason = "invalid-task"


class NotOwner(DomainError):
    reason = "not-owner"


class TaskNotFound(DomainError):
    reason = "task-not-found"


class InvalidTransition(DomainError):
    reason = "invalid-transition"
