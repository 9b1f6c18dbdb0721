"""Terraform's taskpulse-dapr chart: the documents of ``dapr-components/base`` as Helm templates.

``kubernetes_manifest`` needs a CRD at plan time, so Terraform installs the Dapr resources
through a small local chart after the Dapr operator. Its templates are the very Subscriptions
and Resiliency of ``dapr`` and the hand-written Configuration, each put in the namespace of
the release, so the cluster and the kustomize overlays cannot drift apart.
"""

from __future__ import annotations

import yaml

from devstack.manifests._common import ROOT, Manifest
from devstack.manifests.local import LOCAL_CONFIG

DAPR_CHART_TEMPLATES = "infra/terraform/modules/platform/charts/taskpulse-dapr/templates"
"""The chart through which Terraform installs the Dapr resources: its Subscriptions,
Resiliency and Configuration are the documents of dapr-components/base, generated into it."""


def in_release_namespace(doc: Manifest) -> Manifest:
    """``doc`` as a Helm template: in the namespace of the release that installs it."""
    metadata = {"name": doc["metadata"]["name"], "namespace": "{{ .Release.Namespace }}"}
    return {**doc, "metadata": {**metadata, **doc["metadata"]}}


def configuration() -> Manifest:
    """The Configuration, hand-written once in dapr-components/base."""
    loaded: Manifest = yaml.safe_load((ROOT / LOCAL_CONFIG).read_text())
    return loaded
