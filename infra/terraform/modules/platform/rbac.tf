# Least privilege in the functions' namespace.
#
# - Each function runs as its own service account with no API token mounted and no role: it
#   talks only to its Dapr Shared instance, which talks to the Dapr control plane over mTLS.
# - Dapr Shared service accounts (dapr.tf) get no role either.
# - Deployers may manage Knative services and read their status here, and nothing else.

resource "kubernetes_service_account_v1" "function" {
  for_each = toset(var.functions)
  metadata {
    name      = each.key
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = { "app.kubernetes.io/part-of" = "taskpulse" }
  }
  automount_service_account_token = false
}

resource "kubernetes_role_v1" "deployer" {
  count = length(var.deployer_subjects) > 0 ? 1 : 0
  metadata {
    name      = "taskpulse-deployer"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
  }
  rule {
    api_groups = ["serving.knative.dev"]
    resources  = ["services"]
    verbs      = ["get", "list", "watch", "create", "update", "patch", "delete"]
  }
  rule {
    api_groups = ["serving.knative.dev"]
    resources  = ["revisions", "routes", "configurations"]
    verbs      = ["get", "list", "watch"]
  }
  rule {
    api_groups = [""]
    resources  = ["pods", "pods/log", "events"]
    verbs      = ["get", "list", "watch"]
  }
}

resource "kubernetes_role_binding_v1" "deployer" {
  count = length(var.deployer_subjects) > 0 ? 1 : 0
  metadata {
    name      = "taskpulse-deployer"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role_v1.deployer[0].metadata[0].name
  }
  dynamic "subject" {
    for_each = var.deployer_subjects
    content {
      kind      = subject.value.kind
      name      = subject.value.name
      namespace = subject.value.kind == "ServiceAccount" ? coalesce(subject.value.namespace, var.namespace) : null
      api_group = subject.value.kind == "ServiceAccount" ? "" : "rbac.authorization.k8s.io"
    }
  }
}
