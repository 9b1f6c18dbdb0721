# The platform that TaskPulse's functions run on, installed into an existing cluster.
# Providers (helm, kubernetes, random) are configured by the root module: none here.

module "versions" {
  source = "../versions"
}

locals {
  versions = merge(module.versions.pins, var.version_overrides)
  local    = var.environment == "local"
  c        = var.components

  # One replica of everything on a laptop; spread on AKS.
  replicas = local.local ? 1 : 2

  kafka_in_cluster = local.c.kafka && var.kafka.mode != "external"
  kafka_namespace  = "kafka"

  # Bootstrap servers that Dapr and the topic job use.
  kafka_bootstrap = (
    var.kafka.mode == "external" ? var.kafka.bootstrap_servers :
    # Strimzi's only client listener: TLS + SCRAM-SHA-512 (kafka.tf, charts/strimzi-kafka).
    var.kafka.mode == "strimzi" ? "taskpulse-kafka-bootstrap.${local.kafka_namespace}.svc.cluster.local:9093" :
    "redpanda.${local.kafka_namespace}.svc.cluster.local:9093"
  )

  dapr_shared = { for f in var.functions : f => f if local.c.dapr_shared }
  # Tokens and trust anchors are made for every function, whoever runs its daprd (this
  # module's Dapr Shared, or the knative/ manifests with components.dapr_shared = false).
  all_functions = { for f in var.functions : f => f }

  storage_class_values = var.storage_class == null ? {} : { storageClassName = var.storage_class }
}

# --- the functions' namespace -------------------------------------------------------------

resource "kubernetes_namespace_v1" "taskpulse" {
  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of"                  = "taskpulse"
      "pod-security.kubernetes.io/enforce"         = "restricted"
      "pod-security.kubernetes.io/enforce-version" = "latest"
      "pod-security.kubernetes.io/audit"           = "restricted"
      "pod-security.kubernetes.io/warn"            = "restricted"
    }
  }
}

# --- cert-manager -------------------------------------------------------------------------

resource "helm_release" "cert_manager" {
  count            = local.c.cert_manager ? 1 : 0
  name             = "cert-manager"
  repository       = "oci://quay.io/jetstack/charts"
  chart            = "cert-manager"
  version          = local.versions.cert_manager
  namespace        = "cert-manager"
  create_namespace = true
  atomic           = true
  timeout          = 600
  max_history      = 5

  values = [yamlencode({
    crds         = { enabled = true }
    replicaCount = local.replicas
    # The controller's PDB when it runs more than one replica (pdb.tf, decision 0026).
    podDisruptionBudget = { enabled = local.replicas > 1 }
    prometheus          = { servicemonitor = { enabled = local.c.monitoring } }
  })]

  depends_on = [helm_release.monitoring]
}

# --- monitoring ---------------------------------------------------------------------------

resource "helm_release" "monitoring" {
  count            = local.c.monitoring ? 1 : 0
  name             = "kube-prometheus-stack"
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = local.versions.kube_prometheus_stack
  namespace        = "monitoring"
  create_namespace = true
  atomic           = true
  timeout          = 900
  max_history      = 5

  values = [
    yamlencode({
      grafana = {
        enabled = var.monitoring.grafana_enabled
        # The dashboards of charts/taskpulse-monitoring (ConfigMaps labelled
        # grafana_dashboard=1) live in the functions' namespace.
        sidecar = { dashboards = { enabled = true, searchNamespace = "ALL" } }
      }
      alertmanager = { enabled = !local.local }
      prometheus = {
        prometheusSpec = {
          retention = var.monitoring.retention
          # Pick up the ServiceMonitors/PodMonitors of every release, not only this one.
          serviceMonitorSelectorNilUsesHelmValues = false
          podMonitorSelectorNilUsesHelmValues     = false
          # And the PrometheusRules of every release (charts/taskpulse-monitoring's alerts).
          ruleSelectorNilUsesHelmValues = false
        }
      }
    }),
    # Persistent Prometheus storage on AKS only.
    local.local ? "{}" : yamlencode({
      prometheus = {
        prometheusSpec = {
          storageSpec = {
            volumeClaimTemplate = {
              spec = merge({
                accessModes = ["ReadWriteOnce"]
                resources   = { requests = { storage = var.monitoring.storage_size } }
              }, local.storage_class_values)
            }
          }
        }
      }
    }),
  ]
}

# What Prometheus scrapes in the functions' namespace: the functions' /metrics and their
# daprd (PodMonitors, a custom resource of the chart above: local chart, one apply).
resource "helm_release" "taskpulse_monitoring" {
  count       = local.c.monitoring ? 1 : 0
  name        = "taskpulse-monitoring"
  chart       = "${path.module}/charts/taskpulse-monitoring"
  namespace   = kubernetes_namespace_v1.taskpulse.metadata[0].name
  atomic      = true
  timeout     = 300
  max_history = 5

  depends_on = [helm_release.monitoring]
}

# --- KEDA (only when the AKS add-on does not provide it) ----------------------------------

resource "helm_release" "keda" {
  count            = local.c.keda ? 1 : 0
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = local.versions.keda
  namespace        = "keda"
  create_namespace = true
  atomic           = true
  timeout          = 600
  max_history      = 5

  values = [yamlencode({
    prometheus = {
      operator     = { enabled = local.c.monitoring, serviceMonitor = { enabled = local.c.monitoring } }
      metricServer = { enabled = local.c.monitoring, serviceMonitor = { enabled = local.c.monitoring } }
    }
  })]

  depends_on = [helm_release.monitoring]
}

# --- Dapr control plane -------------------------------------------------------------------

resource "helm_release" "dapr" {
  count            = local.c.dapr ? 1 : 0
  name             = "dapr"
  repository       = "https://dapr.github.io/helm-charts/"
  chart            = "dapr"
  version          = local.versions.dapr
  namespace        = var.dapr_control_plane_namespace
  create_namespace = true
  atomic           = true
  timeout          = 900
  max_history      = 5

  values = [
    yamlencode({
      global = {
        ha   = { enabled = !local.local }
        mtls = { enabled = true, controlPlaneTrustDomain = var.dapr_trust_domain }
      }
      dapr_scheduler = {
        # The scheduler is a 3-replica StatefulSet with 16Gi volumes by default: keep it in
        # memory on minikube/kind, where jobs need not survive a restart.
        cluster = { inMemoryStorage = local.local }
      }
    }),
    local.local || var.storage_class == null ? "{}" : yamlencode({
      dapr_scheduler = { cluster = { storageClassName = var.storage_class } }
    }),
  ]

  depends_on = [helm_release.cert_manager]
}

# --- Knative Serving (operator + a KnativeServing resource from a local chart) -----------

resource "helm_release" "knative_operator" {
  count            = local.c.knative ? 1 : 0
  name             = "knative-operator"
  repository       = "https://knative.github.io/operator"
  chart            = "knative-operator"
  version          = local.versions.knative_operator
  namespace        = "knative-operator"
  create_namespace = true
  atomic           = true
  timeout          = 600
  max_history      = 5
}

# The KnativeServing resource cannot be a kubernetes_manifest (its CRD does not exist at the
# first plan), so it is rendered by a small local chart installed after the operator.
resource "helm_release" "knative_serving" {
  count            = local.c.knative ? 1 : 0
  name             = "knative-serving"
  chart            = "${path.module}/charts/knative-serving"
  namespace        = "knative-serving"
  create_namespace = true
  atomic           = true
  timeout          = 900
  max_history      = 5

  values = [yamlencode({
    version          = local.versions.knative_serving
    domain           = local.edge_domain
    tls              = { enabled = local.edge_tls, clusterIssuer = local.edge_tls ? local.edge_cluster_issuer : "" }
    highAvailability = { replicas = local.replicas }
    # knative/overlays/local pulls from the kind/k3d registry at localhost:5001.
    skipTagResolving = local.local ? ["kind.local", "ko.local", "dev.local", "localhost:5001"] : []
    # The install waits until the operator has applied Serving (its CRDs come first), so
    # that DomainMappings and the functions' Services can be created in the same apply.
    waitImage = local.dapr_image
  })]

  depends_on = [helm_release.knative_operator]
}
