provider "azurerm" {
  features {
    key_vault {
      # Purge protection is on: never purge on destroy.
      purge_soft_delete_on_destroy = false
    }
  }
  subscription_id = var.subscription_id
  # azurerm v5 registers no resource providers by itself.
  resource_providers_to_register = [
    "Microsoft.Compute",
    "Microsoft.Network",
    "Microsoft.ContainerService",
    "Microsoft.KeyVault",
    "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights",
    "Microsoft.OperationsManagement",
    "Microsoft.PolicyInsights",
    "Microsoft.KubernetesConfiguration",
    "Microsoft.DBforPostgreSQL",
    "Microsoft.ContainerRegistry",
  ]
  storage_use_azuread = true
}

module "versions" {
  source = "../../modules/versions"
}

module "aks" {
  source = "../../modules/aks"

  name                            = var.name
  location                        = var.location
  admin_group_object_ids          = var.admin_group_object_ids
  api_server_authorized_ip_ranges = var.api_server_authorized_ip_ranges
  key_vault_allowed_ip_ranges     = var.key_vault_allowed_ip_ranges
  keda_addon                      = var.keda_addon
  dapr_extension = {
    enabled = var.dapr_extension
    version = module.versions.pins.dapr
  }
  kafka         = var.kafka
  postgres      = var.postgres
  github_deploy = { repository = var.github_repository }
  # The registry the kubelets pull the functions' images from (decision 0022).
  container_registry = var.container_registry
}

# Where the function images are: the module's Azure Container Registry unless given.
locals {
  registry = coalesce(var.registry, "${module.aks.container_registry.login_server}/taskpulse")
}

# Entra ID publishes each tenant's keys at a fixed address (jwks_uri of
# https://login.microsoftonline.com/<tenant-id>/v2.0/.well-known/openid-configuration):
# derived here so that Centrifugo, which does no discovery, gets it without another setting.
locals {
  entra_tenant  = one(regexall("^https://login\\.microsoftonline\\.com/([^/]+)/v2\\.0/?$", var.oidc_issuer)[*][0])
  oidc_jwks_url = var.oidc_jwks_url != null ? var.oidc_jwks_url : (local.entra_tenant == null ? null : "https://login.microsoftonline.com/${local.entra_tenant}/discovery/v2.0/keys")
}

# The cluster's API server, with Entra ID tokens from kubelogin (local accounts are off).
locals {
  # AKS's Entra ID server application id (the same in every tenant).
  aks_server_id = "6dae42f8-4368-4678-94ff-3960e28e3630"
  kubelogin = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "kubelogin"
    args        = ["get-token", "--login", var.kubelogin_mode, "--server-id", local.aks_server_id]
  }
}

provider "kubernetes" {
  host                   = module.aks.host
  cluster_ca_certificate = module.aks.cluster_ca_certificate
  exec {
    api_version = local.kubelogin.api_version
    command     = local.kubelogin.command
    args        = local.kubelogin.args
  }
}

provider "helm" {
  kubernetes = {
    host                   = module.aks.host
    cluster_ca_certificate = module.aks.cluster_ca_certificate
    exec                   = local.kubelogin
  }
}

module "platform" {
  source = "../../modules/platform"

  environment       = "aks"
  components        = merge(var.components, module.aks.platform_components)
  kafka             = module.aks.platform_kafka
  secrets           = module.aks.platform_secrets
  storage_class     = "managed-csi-premium"
  deployer_subjects = var.deployer_subjects

  centrifugo_allowed_origins    = var.centrifugo_allowed_origins
  domain                        = var.domain
  acme                          = var.acme
  centrifugo_token_verification = var.centrifugo_token_verification

  oidc_issuer        = var.oidc_issuer
  oidc_audience      = var.oidc_audience
  oidc_user_claim    = var.oidc_user_claim
  oidc_service_scope = var.oidc_service_scope
  oidc_jwks_url      = local.oidc_jwks_url

  # With the AKS Dapr extension, Dapr's trust bundle exists only once module.aks has
  # installed it; the platform reads it (dapr.tf), so it waits for the whole cluster.
  depends_on = [module.aks]
}

# DATABASE_URL of the functions (Secret taskpulse-database, key url, as knative/ reads it). It
# holds no password: the server is Entra-only and the functions sign in with their workload
# identity's token (DATABASE_AUTH=entra in knative/overlays/aks, decision 0023).
resource "kubernetes_secret_v1" "database" {
  count = var.postgres.enabled ? 1 : 0
  metadata {
    name      = "taskpulse-database"
    namespace = module.platform.namespace
    labels    = { "app.kubernetes.io/part-of" = "taskpulse" }
  }
  data = {
    url = module.aks.database_url
  }
}
