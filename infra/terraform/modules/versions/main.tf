# Every version the platform installs, pinned in this one place.
#
# modules/platform and modules/aks read these through this module's `pins` output, the roots
# pass them on, and tests/infra checks `dapr` against DAPR_VERSION in tools/devstack/versions.py
# (the project's single Dapr pin). Charts are given without a leading "v" unless the chart
# repository itself tags them with one.
locals {
  pins = {
    # Dapr control plane chart and the daprd image of Dapr Shared (chart 1.18.3 = Dapr v1.18.3).
    dapr = "1.18.3"
    # KEDA chart (used when the AKS KEDA add-on is off, for example on minikube/kind).
    keda = "2.20.2"
    # Knative Operator chart and the Knative Serving release it installs.
    knative_operator = "v1.23.0"
    knative_serving  = "1.23"
    # Strimzi operator chart (API kafka.strimzi.io/v1).
    strimzi = "1.2.0"
    # Redpanda chart and the Redpanda image (also the rpk image of the topic job).
    redpanda_chart = "26.2.7"
    redpanda       = "v26.2.7"
    # cert-manager chart (OCI).
    cert_manager = "v1.21.1"
    # kube-prometheus-stack chart.
    kube_prometheus_stack = "88.5.3"
    # Centrifugo image (the push gateway); the same release as CENTRIFUGO_VERSION in
    # tools/devstack/versions.py, which `task up` builds.
    centrifugo = "v6.9.1"
    # Valkey image: the Redis that Centrifugo's replicas share (modules/platform
    # centrifugo_redis.tf; decision 0025).
    valkey = "8.1.4"
  }
}
