"""The two roots of every failure the functions judge: trying again helps, or it cannot.

A handler that raises is answered by what its error says about a later try (the table
of :mod:`taskpulse.dapr_app.verdict`)::

    Exception
    ├── Permanent                  trying again cannot succeed -> DROP (dead letter)
    │   ├── DomainError            a rule of the domain is broken (taskpulse.domain)
    │   │   ├── InvalidTask, NotOwner, TaskNotFound, InvalidTransition
    │   ├── InvalidEvent           not what the contract says (taskpulse.events)
    │   └── RecurrenceError        a rule the engine refuses (taskpulse.recurrence)
    ├── Transient                  an outage or a race: a later try may succeed -> RETRY
    │   ├── PublishError           the broker did not take an event (taskpulse.ports)
    │   │   └── DaprUnavailable    Dapr did not answer, or failed (taskpulse.dapr)
    │   └── ConcurrentUpdate       another transaction changed the row first (store)
    └── anything else              a bug, or a refusal nobody sorted -> RETRY, logged
        ├── DaprError              Dapr refused a call (taskpulse.dapr)
        └── ChannelError           a push or a mail not delivered (taskpulse.ports):
                                   its ``permanent`` flag is read by the reminder use
                                   case, which records the refusal instead of raising

A ``RecurrenceError`` rarely reaches the table: creating a task turns it into an
``InvalidTask`` naming the rule, and a stored series whose rule no longer compiles ends
(``Series.next_step``) rather than refuse every completion.
"""

from __future__ import annotations


class Permanent(Exception):
    """Trying again cannot succeed: the event goes to its dead-letter topic with the reason."""


class Transient(Exception):
    """An outage or a race: the event is retried, and a later try may succeed."""
