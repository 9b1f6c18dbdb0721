"""Knative Serving's own admission of our Services, without a cluster.

``go/knative-validate`` is built once (``devstack.gobuild``) against ``knative.dev/serving`` at
``KNATIVE_SERVING_MODULE_VERSION``: the webhook's decode (strict: an unknown field is refused),
``SetDefaults`` and ``Validate`` in the webhook's context (``config.ToContext`` with the
configuration the cluster runs, ``apis.WithinCreate``, the requesting user), and on request the
Pod that Knative would create for each admitted Service (``resources.MakeDeployment``, which
builds the user and queue-proxy containers through ``resources.BuildPodSpec``).

The configuration is what the platform module gives the cluster: ``spec.config`` of the
KnativeServing resource that ``infra/terraform/modules/platform/charts/knative-serving``
renders (``helm template``), so a feature flag changed there changes what is admitted here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.admission import AdmissionToolError, answers, common
from devstack.gobuild import GoCommand, build
from devstack.versions import KNATIVE_SERVING_MODULE_VERSION

SERVING_MODULE = "knative.dev/serving"
SOURCES = Path(__file__).resolve().parent / "go" / "knative-validate"
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "infra" / "terraform" / "modules" / "platform" / "charts" / "knative-serving"

BUILD = GoCommand(
    name="knative-validate",
    module=SERVING_MODULE,
    version=f"v{KNATIVE_SERVING_MODULE_VERSION}",
    package=f"{SERVING_MODULE}/cmd/webhook",
    main_dir=SOURCES,
)

Config = Mapping[str, Mapping[str, str]]
"""KnativeServing ``spec.config``: ConfigMap name without ``config-`` -> its data."""


def binary() -> Path:
    """The cached binary, built first when missing (minutes, once)."""
    return build(BUILD)


def chart_config(helm: Path | None = None) -> dict[str, dict[str, str]]:
    """``spec.config`` of the KnativeServing resource the platform chart renders."""
    if helm is None:
        from devstack.tofu import helm as build_helm

        helm = build_helm()
    result = subprocess.run(  # noqa: S603 - our own binary, fixed argv
        [str(helm), "template", "knative-serving", str(CHART), "--namespace", "knative-serving"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AdmissionToolError(f"helm template {CHART}:\n{result.stderr.strip()}")
    import yaml

    (serving,) = [
        doc
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc.get("kind") == "KnativeServing"
    ]
    config: dict[str, dict[str, Any]] = serving["spec"].get("config") or {}
    # ConfigMap data are strings; YAML may have read "true" or 10 as something else.
    return {
        name: {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in data.items()
        }
        for name, data in config.items()
    }


@dataclass(frozen=True)
class Admission:
    """What Knative's webhook answers for one object."""

    kind: str
    name: str
    namespace: str
    allowed: bool
    stage: str
    """Where a refusal came from: ``decode``, ``validate``, ``pod`` or ``kind``."""
    error: str
    warnings: tuple[str, ...]
    defaulted: dict[str, Any] | None
    pod: dict[str, Any] | None


def admit(
    objects: Sequence[Mapping[str, Any]],
    config: Config,
    *,
    pods: bool = False,
    defaulted: bool = False,
    user: str = "kubernetes-admin",
    executable: Path | None = None,
) -> list[Admission]:
    """Admit ``objects`` (Knative Services) as a create by ``user``, one answer each."""
    flags = ["-user", user, *(["-pods"] if pods else []), *(["-defaulted"] if defaulted else [])]
    found = answers(executable or binary(), objects, ("-config", config), flags)
    return [
        Admission(**common(answer), defaulted=answer.get("defaulted"), pod=answer.get("pod"))
        for answer in found
    ]
