provider "kubernetes" {
  config_path    = pathexpand(var.kubeconfig_path)
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = pathexpand(var.kubeconfig_path)
    config_context = var.kube_context
  }
}

# The issuer runs on this machine: tokens name it by 127.0.0.1, which inside a pod is the pod
# itself, so the keys are fetched through the host's address as the cluster sees it.
locals {
  oidc_jwks_url = var.oidc_jwks_url != null ? var.oidc_jwks_url : format(
    "%s/.well-known/jwks.json",
    trimsuffix(replace(var.oidc_issuer, "/^(https?://)(127\\.0\\.0\\.1|localhost)([:/]|$)/", "$${1}${var.host_address}$${3}"), "/"),
  )
}

module "platform" {
  source = "../../modules/platform"

  environment   = "local"
  components    = var.components
  storage_class = var.storage_class
  kafka = {
    mode         = var.kafka_mode
    replicas     = 1
    storage_size = "5Gi"
  }
  centrifugo_allowed_origins = ["http://localhost:3000", "http://127.0.0.1:3000"]
  # No public domain on a laptop: no issuer, no certificate, plain HTTP (decision 0031).
  knative_domain                = var.knative_domain
  centrifugo_token_verification = var.centrifugo_token_verification

  oidc_issuer        = var.oidc_issuer
  oidc_audience      = var.oidc_audience
  oidc_user_claim    = var.oidc_user_claim
  oidc_service_scope = var.oidc_service_scope
  oidc_jwks_url      = local.oidc_jwks_url
}
