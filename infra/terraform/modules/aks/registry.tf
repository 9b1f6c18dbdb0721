# The functions' images (decision 0022): the pipeline pushes each image here as well as to GHCR
# (one build, one manifest, the same digest in both), and the kubelets pull it from here. No
# password exists: the admin user is off, the kubelet identity pulls with AcrPull, and the
# pipeline's federated identity (deploy_identity.tf) pushes with AcrPush through the Entra ID
# token that azure/login got for GitHub's OIDC token.

locals {
  # 5-50 alphanumerics, globally unique: the base name without dashes and the module's suffix.
  acr_name = coalesce(var.container_registry.name, "acr${replace(var.name, "-", "")}${random_string.suffix.result}")
}

resource "azurerm_container_registry" "this" {
  # checkov:skip=CKV_AZURE_139: public_network_access is an input (default on): GitHub-hosted runners push from changing addresses, and a private registry needs a private endpoint in a VNet this module does not own (Premium); every request needs an Entra ID token with AcrPull or AcrPush either way.
  # checkov:skip=CKV_AZURE_164: Docker Content Trust is deprecated and has no argument in azurerm v5; the images are signed with cosign (keyless) and the pipeline verifies the signature before it deploys.
  # checkov:skip=CKV_AZURE_166: Quarantine holds every pushed image until something marks it verified, which nothing here does: the pipeline's cosign verification is the gate.
  # checkov:skip=CKV_AZURE_167: A retention policy for untagged manifests is Premium-only; every image here is tagged main-<sha> and deployed by digest.
  # checkov:skip=CKV_AZURE_233: Zone redundancy is Premium-only (an input through sku); the default Standard registry serves one region's cluster.
  # checkov:skip=CKV_AZURE_237: Dedicated data endpoints are Premium-only and only matter behind a firewall with data-endpoint rules.
  # checkov:skip=CKV_AZURE_163: Image scanning is Microsoft Defender for Containers, a plan of the subscription that this module does not switch on (the check also cannot read the sku through envs/aks); a Standard or Premium sku is what it needs.
  # checkov:skip=CKV_AZURE_165: Geo-replication is Premium-only; the cluster runs in one region.
  name                          = local.acr_name
  location                      = azurerm_resource_group.this.location
  resource_group_name           = azurerm_resource_group.this.name
  sku                           = var.container_registry.sku
  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = var.container_registry.public_network_access
  # AcrPull and AcrPush (below) are honoured only in this mode; in the ABAC mode the
  # "Container Registry Repository *" roles replace them, so the mode is not left to a default.
  role_assignment_mode = "LegacyRegistryPermissions"
  tags                 = local.tags
}

# The kubelets (the identity AKS made for the nodes) pull the functions' images.
resource "azurerm_role_assignment" "kubelet_acr_pull" {
  scope                            = azurerm_container_registry.this.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

# The pipeline pushes the images (and reads them back to check the digest it deploys).
resource "azurerm_role_assignment" "deploy_acr_push" {
  count                = local.github_deploy ? 1 : 0
  scope                = azurerm_container_registry.this.id
  role_definition_name = "AcrPush"
  principal_id         = azurerm_user_assigned_identity.deploy[0].principal_id
  principal_type       = "ServicePrincipal"
}

# `az acr login --name` looks the registry up through Azure Resource Manager before it
# exchanges the Entra ID token for a registry token; AcrPush carries no read of the registry
# resource itself. Reader on this one registry: its settings, nothing else.
resource "azurerm_role_assignment" "deploy_acr_reader" {
  count                = local.github_deploy ? 1 : 0
  scope                = azurerm_container_registry.this.id
  role_definition_name = "Reader"
  principal_id         = azurerm_user_assigned_identity.deploy[0].principal_id
  principal_type       = "ServicePrincipal"
}
