"""The Dapr surface every function shares: what reaches a function from daprd, and back.

* :mod:`.wire`: the formats (structured and binary CloudEvents, daprd's rawPayload and
  bulk envelopes, the answers);
* :mod:`.verdict`: SUCCESS, RETRY or DROP, and the one table that judges an exception;
* :mod:`.reading`: from a delivery's bytes to the event a handler takes;
* :mod:`.dead_letters`: ``<topic>-dlq`` with the reason;
* :mod:`.bulk`: the ordering rule of a bulk delivery;
* :mod:`.deliveries`: a delivery from daprd, single or bulk, through the above to its handler;
* :mod:`.jobs`: job triggers;
* :mod:`.router`: ``FunctionApp``, which routes a request to them and to the public face.

On a topic's gate (``Subscription.gate``) daprd delivers each Kafka record unparsed, in
its ``rawPayload`` envelope, so bytes that are not a CloudEvent are dead-lettered with
the reason like any other invalid event. A gate takes its records in bulk: one request
carries the records that waited in one partition, and each is answered as if it came
alone. A function with a ``batch`` (compute-next-occurrence) handles each such delivery
in one transaction; one with ``handle_all`` (push-update) hands its events to one call.
"""

from taskpulse.dapr_app.bulk import BulkHandler
from taskpulse.dapr_app.dead_letters import DeadLetters
from taskpulse.dapr_app.router import (
    EventHandler,
    FunctionApp,
    Handlers,
    JobHandler,
)
from taskpulse.dapr_app.verdict import Status, Verdict

__all__ = [
    "BulkHandler",
    "DeadLetters",
    "EventHandler",
    "FunctionApp",
    "Handlers",
    "JobHandler",
    "Status",
    "Verdict",
]
