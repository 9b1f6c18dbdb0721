output "namespace" {
  description = "Namespace of the functions (Pod Security restricted)."
  value       = kubernetes_namespace_v1.taskpulse.metadata[0].name
}

output "versions" {
  description = "Versions in force (pins of modules/versions merged with version_overrides)."
  value       = local.versions
}

output "installed" {
  description = "Which components this module installed (after the toggles and the Kafka mode)."
  value = {
    cert_manager   = local.c.cert_manager
    monitoring     = local.c.monitoring
    knative        = local.c.knative
    dapr           = local.c.dapr
    keda           = local.c.keda
    kafka          = local.c.kafka ? var.kafka.mode : "none"
    centrifugo     = local.c.centrifugo
    dapr_shared    = local.c.dapr_shared
    dapr_resources = local.c.dapr_resources
  }
}

output "kafka_login_secrets" {
  description = "Kafka principal -> Secret in the functions' namespace with its login (username, password, ca.crt): each function, taskpulse-backend (writes task-events) and keda (describes topics and groups). Empty unless kafka.mode is strimzi and this module installs it."
  value       = { for p in keys(local.kafka_principals) : p => "${p}-kafka" }
}

output "kafka_bootstrap_servers" {
  description = "Bootstrap servers that the pubsub-kafka component uses."
  value       = local.kafka_bootstrap
}

output "topics" {
  description = "Kafka topics of the contract: partitions and retention (ms)."
  value       = local.topics
}

output "dapr_http_endpoints" {
  description = "Function name -> DAPR_HTTP_ENDPOINT of its Dapr Shared instance."
  value       = { for f in keys(local.dapr_shared) : f => "http://${f}-dapr.${var.namespace}.svc.cluster.local:3500" }
}

output "token_secrets" {
  description = "Function name -> Secret holding dapr-api-token and app-api-token (values never in state)."
  value       = { for f in keys(local.all_functions) : f => "${f}-dapr-tokens" }
}

output "function_service_accounts" {
  description = "Function name -> its service account (set it as serviceAccountName of the Knative service)."
  value       = { for f, sa in kubernetes_service_account_v1.function : f => sa.metadata[0].name }
}

output "centrifugo_url" {
  description = "In-cluster URL of Centrifugo's client endpoint (WebSocket at /connection/websocket); only Kourier's gateway may reach it (NetworkPolicy centrifugo-ingress)."
  value       = local.c.centrifugo ? "http://centrifugo.${var.namespace}.svc.cluster.local:${local.centrifugo_client_port}" : null
}

output "centrifugo_api_url" {
  description = "Centrifugo's server API on its internal port (http_server.internal_port), push-update's CENTRIFUGO_API_URL; only push-update's pods may reach it."
  value       = local.c.centrifugo ? "http://centrifugo.${var.namespace}.svc.cluster.local:${local.centrifugo_internal_port}/api" : null
}

output "public_urls" {
  description = "With `domain`: the public HTTPS URLs (create_task, centrifugo_websocket); null without a domain (plain HTTP through the Kourier service, see the README)."
  value = local.edge_tls ? {
    create_task          = "https://${local.edge_hosts.create_task}"
    centrifugo_websocket = local.c.centrifugo ? "wss://${local.edge_hosts.centrifugo}/connection/websocket" : null
  } : null
}

output "cluster_issuer" {
  description = "The ClusterIssuer of Knative's certificates (letsencrypt-staging or letsencrypt-production); null without a domain."
  value       = local.edge_tls ? local.edge_cluster_issuer : null
}

output "centrifugo_secret" {
  description = "Secret with Centrifugo's keys: http-api-key (push-update) and token-hmac-secret-key (client connection tokens, read only with centrifugo_token_verification = \"hmac\")."
  value       = local.c.centrifugo ? "centrifugo" : null
}

output "centrifugo_token_verification" {
  description = "How Centrifugo verifies connection tokens: \"jwks\" (the users' access tokens from the issuer) or \"hmac\" (tokens the backend mints); null without Centrifugo."
  value       = local.c.centrifugo ? var.centrifugo_token_verification : null
}

output "identity_config_map" {
  description = "ConfigMap with the OpenID Connect settings create-task reads, one key per environment variable (OIDC_ISSUER, OIDC_AUDIENCE, OIDC_USER_CLAIM, OIDC_SERVICE_SCOPE, and OIDC_JWKS_URL when set)."
  value       = kubernetes_config_map_v1.identity.metadata[0].name
}

output "oidc" {
  description = "The OpenID Connect settings in force (public values): what create-task and Centrifugo accept."
  value = {
    issuer        = var.oidc_issuer
    audience      = var.oidc_audience
    user_claim    = var.oidc_user_claim
    service_scope = var.oidc_service_scope
    jwks_url      = var.oidc_jwks_url
  }
}

output "network_policies" {
  description = "NetworkPolicies of the functions' namespace, name -> spec (network.tf): the ingress ones are knative/base/network-policies.yaml, the egress ones this module's own."
  value       = local.network_policies
}

output "pod_disruption_budgets" {
  description = "PodDisruptionBudgets this module creates in the functions' namespace: one per Dapr Shared Deployment with more than one replica (this module's, or knative/overlays/aks's with components.dapr_shared off)."
  value       = [for p in kubernetes_pod_disruption_budget_v1.dapr_shared : p.metadata[0].name]
}
