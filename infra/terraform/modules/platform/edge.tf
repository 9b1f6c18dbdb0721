# The edge (decision 0031): with `domain` set, Knative serves its routes on that domain over
# HTTPS with Let's Encrypt certificates, and Centrifugo's client endpoint is published through
# the same Kourier gateway. Without it (every laptop cluster) nothing here is made and the
# routes stay plain HTTP on `knative_domain`.
#
# - Certificates: Knative Serving 1.23's built-in cert-manager integration
#   (config-network external-domain-tls + certificate-class
#   cert-manager.certificate.networking.knative.dev, config-certmanager issuerRef) asks
#   cert-manager for one certificate per route and DomainMapping, from the ClusterIssuer
#   `letsencrypt-<acme.issuer>` (charts/knative-serving).
# - Issuers: letsencrypt-staging and letsencrypt-production, HTTP-01 through Kourier: Knative
#   adds each challenge path to the route's KIngress, so no DNS zone or cloud identity is
#   involved (charts/taskpulse-edge).
# - Centrifugo: a DomainMapping to its Service (port 80 -> the client port 8000) with its
#   ClusterDomainClaim; the server API stays on the internal port (centrifugo.tf), which the
#   NetworkPolicy centrifugo-ingress opens to push-update only (network.tf).

locals {
  edge_tls            = var.domain != null
  edge_domain         = local.edge_tls ? var.domain : var.knative_domain
  edge_cluster_issuer = "letsencrypt-${var.acme.issuer}"

  # Knative's domain-template {{.Name}}.{{.Namespace}}.{{.Domain}} (config-network default).
  edge_hosts = local.edge_tls ? {
    create_task = "create-task.${var.namespace}.${var.domain}"
    centrifugo  = "centrifugo.${var.namespace}.${var.domain}"
  } : {}

  centrifugo_allowed_origins = (
    var.centrifugo_allowed_origins != null ? var.centrifugo_allowed_origins :
    local.local ? ["http://localhost:3000"] : []
  )

  # The pods of cert-manager's HTTP-01 solver (label set by cert-manager) run in the
  # namespace of the certificate, this one; Kourier's gateway reaches them on 8089.
  edge_network_policies = local.edge_tls && local.np_enabled ? {
    "acme-http01-solver-ingress" = {
      podSelector = { matchLabels = { "acme.cert-manager.io/http01-solver" = "true" } }
      policyTypes = ["Ingress"]
      ingress = [{
        from = [
          merge(local.np_namespace["knative-serving"], { podSelector = { matchLabels = { app = "3scale-kourier-gateway" } } }),
          merge(local.np_namespace["kourier-system"], { podSelector = { matchLabels = { app = "3scale-kourier-gateway" } } }),
        ]
        ports = [{ protocol = "TCP", port = 8089 }]
      }]
    }
  } : {}
}

resource "helm_release" "edge" {
  count       = local.edge_tls ? 1 : 0
  name        = "taskpulse-edge"
  chart       = "${path.module}/charts/taskpulse-edge"
  namespace   = kubernetes_namespace_v1.taskpulse.metadata[0].name
  atomic      = true
  timeout     = 300
  max_history = 5

  values = [yamlencode({
    acme       = { email = var.acme.email }
    centrifugo = { host = local.c.centrifugo ? local.edge_hosts.centrifugo : "" }
  })]

  # ClusterIssuer is cert-manager's CRD; DomainMapping and ClusterDomainClaim are Knative
  # Serving's, which the operator installs once the KnativeServing exists. Centrifugo's
  # rollout comes first so that the operator has had that time (decision 0031).
  depends_on = [
    helm_release.cert_manager,
    helm_release.knative_serving,
    kubernetes_service_v1.centrifugo,
    kubernetes_deployment_v1.centrifugo,
  ]
}

resource "kubernetes_network_policy_v1" "edge" {
  for_each = local.edge_network_policies

  metadata {
    name      = each.key
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.np_labels
  }

  spec {
    pod_selector {
      match_labels = each.value.podSelector.matchLabels
    }
    policy_types = each.value.policyTypes
    ingress {
      dynamic "from" {
        for_each = each.value.ingress[0].from
        content {
          namespace_selector {
            match_labels = from.value.namespaceSelector.matchLabels
          }
          pod_selector {
            match_labels = from.value.podSelector.matchLabels
          }
        }
      }
      ports {
        protocol = "TCP"
        port     = "8089"
      }
    }
  }
}
