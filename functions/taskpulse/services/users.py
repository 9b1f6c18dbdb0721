"""Use case: keep what a user's issuer vouched for about them."""

from __future__ import annotations

from collections.abc import Callable

from taskpulse.ports import UnitOfWork


def remember_email(unit_of_work: Callable[[], UnitOfWork], user_id: str, email: str) -> None:
    """Reminders go to this address from now on (the issuer verified it)."""
    with unit_of_work() as uow:
        uow.users.remember_email(user_id, email)
        uow.commit()
