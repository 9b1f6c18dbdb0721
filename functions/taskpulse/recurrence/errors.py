"""The one exception the recurrence package raises."""

from __future__ import annotations

from taskpulse.errors import Permanent


class RecurrenceError(Permanent, ValueError):
    """A rule, zone or instant the engine cannot accept.

    The message names the offending part (``BYMONTH=13 out of range``,
    ``unknown time zone 'Mars/Olympus'``) because it goes back to the client verbatim.
    """
