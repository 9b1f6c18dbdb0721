"""Terraform's taskpulse-dapr chart: the documents of ``dapr-components`` as Helm templates.

``kubernetes_manifest`` needs a CRD at plan time, so Terraform installs the Dapr resources
through a small local chart after the Dapr operator. Its templates are the very Subscriptions
and Resiliency of ``dapr`` and the hand-written Configuration, each put in the namespace of
the release, so the cluster and the kustomize overlays cannot drift apart. Its pub/sub
component is ``dapr-components/cluster/pubsub-kafka.yaml`` with the place keys
(``PUBSUB_PLACE_KEYS``, and the SASL mechanism of an external Kafka) taken from the values.

modules/platform's Dapr Shared Deployments and Services (dapr.tf) are built from
``DAPR_SHARED_FILE``: the documents of ``knative/base/<function>/dapr-shared.yaml``, in one
YAML document that Terraform's ``yamldecode`` reads (docs/decisions/0030).
"""

from __future__ import annotations

import yaml

from devstack.manifests._common import ROOT, Manifest
from devstack.manifests.dapr_shared import dapr_shared
from devstack.manifests.local import LOCAL_CONFIG
from taskpulse.contract import Function

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


CLUSTER_PUBSUB = "dapr-components/cluster/pubsub-kafka.yaml"
PUBSUB_TEMPLATE_VALUES = {
    "brokers": "{{ .Values.brokers }}",
    "authType": "{{ if .Values.secure }}password{{ else }}none{{ end }}",
    "disableTls": "{{ if .Values.secure }}false{{ else }}true{{ end }}",
    "saslMechanism": "{{ .Values.saslMechanism }}",
}
"""Metadata of the cluster's pubsub-kafka that the chart takes from its values: where the
brokers are, whether they are secured (Strimzi's and an external Kafka are: SASL over TLS;
Redpanda in the cluster is plaintext), and the mechanism of an external Kafka."""
PUBSUB_TEMPLATE_GUARD = (
    '{{- if not (has .Values.saslMechanism (list "SHA-512" "SHA-256" "PLAINTEXT")) }}\n'
    '{{- fail (printf "saslMechanism %q: pubsub.kafka reads SHA-512, SHA-256 or PLAINTEXT'
    ' (anything else means SASL/PLAIN)" .Values.saslMechanism) }}\n'
    "{{- end }}\n"
)


def pubsub_template() -> Manifest:
    """The cluster's pubsub-kafka (hand-written once), its place keys from the values."""
    component: Manifest = yaml.safe_load((ROOT / CLUSTER_PUBSUB).read_text())
    metadata = [
        {"name": m["name"], "value": PUBSUB_TEMPLATE_VALUES[m["name"]]}
        if m["name"] in PUBSUB_TEMPLATE_VALUES
        else m
        for m in component["spec"]["metadata"]
    ]
    return in_release_namespace({**component, "spec": {**component["spec"], "metadata": metadata}})


DAPR_SHARED_FILE = "infra/terraform/modules/platform/generated/dapr-shared.yaml"


def dapr_shared_for_terraform() -> Manifest:
    """Function -> its Deployment and Service of knative/base (no ScaledObject: Terraform
    keeps a fixed count), the documents modules/platform's dapr.tf builds its own from."""
    out: Manifest = {}
    for fn in Function:
        docs = {doc["kind"]: doc for doc in dapr_shared(fn)}
        out[fn.value] = {"deployment": docs["Deployment"], "service": docs["Service"]}
    return out
