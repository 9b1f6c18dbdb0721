"""KEDA's own admission of our ScaledObjects and TriggerAuthentications, without a cluster.

``go/keda-validate`` is built once (``devstack.gobuild``) against ``github.com/kedacore/keda/v2``
at ``KEDA_MODULE_VERSION`` (the KEDA chart's version that infra/terraform installs). It sends
each object, as an AdmissionReview for a create, to the handler that KEDA's own
``SetupWebhookWithManager`` registers (``apis/keda/v1alpha1``: ``ValidateCreate`` with every
check of the webhook), over a manager whose client is controller-runtime's fake client holding
the objects admitted before; then, for each Kafka trigger, it builds KEDA's Kafka scaler
(``scalers.NewKafkaScaler``: ``parseKafkaMetadata``, its ``Validate``, the client configuration
with the TLS CA) with the ``authenticationRef`` resolved against fake Secret values. No broker
answers, so an error from the Kafka client itself counts as accepted; see ``main.go``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.admission import answers, built_version, common
from devstack.gobuild import GoCommand, build
from devstack.versions import KEDA_MODULE_VERSION

KEDA_MODULE = "github.com/kedacore/keda/v2"
SOURCES = Path(__file__).resolve().parent / "go" / "keda-validate"
GENERATED_CA = "@generated-ca"
"""A Secret value that keda-validate replaces with a CA certificate it generates."""

BUILD = GoCommand(
    name="keda-validate",
    module=KEDA_MODULE,
    version=f"v{KEDA_MODULE_VERSION}",
    package=f"{KEDA_MODULE}/cmd/webhooks",
    main_dir=SOURCES,
)

Secrets = Mapping[str, Mapping[str, str]]
"""Secret name -> key -> value, what an ``authenticationRef`` resolves against."""


def binary() -> Path:
    """The cached binary, built first when missing (minutes, once)."""
    return build(BUILD)


@dataclass(frozen=True)
class Trigger:
    name: str
    type: str
    accepted: bool
    error: str
    detail: str
    """For an accepted trigger, the Kafka client's connection error: how far the scaler got."""


@dataclass(frozen=True)
class Admission:
    """What KEDA answers for one object."""

    kind: str
    name: str
    namespace: str
    allowed: bool
    stage: str
    """Where a refusal came from: ``kind``, ``decode``, ``webhook`` or ``scaler``."""
    error: str
    warnings: tuple[str, ...]
    triggers: tuple[Trigger, ...]


def admit(
    objects: Sequence[Mapping[str, Any]],
    secrets: Secrets,
    *,
    executable: Path | None = None,
) -> list[Admission]:
    """Admit ``objects`` as creates, TriggerAuthentications first; one answer each, in order."""
    found = answers(executable or binary(), objects, ("-secrets", secrets))
    return [
        Admission(
            **common(answer),
            triggers=tuple(
                Trigger(
                    name=t.get("name", ""),
                    type=t["type"],
                    accepted=t["accepted"],
                    error=t.get("error", ""),
                    detail=t.get("detail", ""),
                )
                for t in answer.get("triggers") or ()
            ),
        )
        for answer in found
    ]


def version(executable: Path | None = None) -> str:
    """The ``github.com/kedacore/keda/v2`` version built into the binary."""
    return built_version(executable or binary())
