# PodDisruptionBudgets for the Deployments this module runs with more than one replica
# (decision 0026). A drain or a node upgrade then takes at most one pod of each at a time.
#
# - Dapr Shared (dapr.tf, or knative/overlays/aks when components.dapr_shared is false): two
#   daprd per function on AKS; one keeps consuming the function's Kafka partitions and
#   receiving its job triggers while the other moves.
# - cert-manager's controller (main.tf, replicaCount 2 on AKS): its chart's own PDB
#   (podDisruptionBudget.enabled), set below through the release's values.
# Not here: Centrifugo (centrifugo.tf sets its own), and what ships its own PDBs with HA on:
# Dapr's control plane (charts/dapr/charts/*/templates/*_poddisruptionbudget.yaml, with
# global.ha.enabled), Knative's activator and webhook and Kourier's gateway (created by the
# Knative Operator), Strimzi's brokers (Strimzi makes one per cluster) and Redpanda's chart.

resource "kubernetes_pod_disruption_budget_v1" "dapr_shared" {
  # This module's Deployments as they are written (dapr.tf); with components.dapr_shared =
  # false, knative/'s, which knative/overlays/aks runs with two replicas (the same labels).
  for_each = { for f in var.functions : f => f if(
    local.c.dapr_shared ? try(kubernetes_deployment_v1.dapr_shared[f].spec[0].replicas, 1) : (local.local ? 1 : 2)
  ) > 1 }

  metadata {
    name      = "${each.key}-dapr"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels = {
      "app.kubernetes.io/name"      = "${each.key}-dapr"
      "app.kubernetes.io/component" = "dapr-shared"
      "app.kubernetes.io/part-of"   = "taskpulse"
    }
  }

  spec {
    max_unavailable = "1"
    selector {
      match_labels = { "app.kubernetes.io/name" = "${each.key}-dapr" }
    }
  }
}
