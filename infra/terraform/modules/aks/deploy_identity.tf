# The pipeline's identity (.github/workflows/main.yml, decision 0022): GitHub's OIDC token of
# the repository's main branch is exchanged for an Entra ID token of this identity
# (azure/login with client-id, tenant-id, subscription-id); no secret exists anywhere. It may
# get cluster credentials and manage the functions' namespace, nothing else.

locals {
  github_deploy = var.github_deploy.repository != ""
}

resource "azurerm_user_assigned_identity" "deploy" {
  count               = local.github_deploy ? 1 : 0
  name                = "id-${var.name}-deploy"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "github_main" {
  count                     = local.github_deploy ? 1 : 0
  name                      = "github-${replace(var.github_deploy.repository, "/", "-")}-${var.github_deploy.branch}"
  user_assigned_identity_id = azurerm_user_assigned_identity.deploy[0].id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = "https://token.actions.githubusercontent.com"
  subject                   = "repo:${var.github_deploy.repository}:ref:refs/heads/${var.github_deploy.branch}"
}

# `az aks get-credentials` (the user kubeconfig: Entra ID through kubelogin).
resource "azurerm_role_assignment" "deploy_cluster_user" {
  count                = local.github_deploy ? 1 : 0
  scope                = azurerm_kubernetes_cluster.this.id
  role_definition_name = "Azure Kubernetes Service Cluster User Role"
  principal_id         = azurerm_user_assigned_identity.deploy[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Everything inside the functions' namespace (Knative Services, Dapr Shared Deployments, the
# migration Job, service accounts, roles and bindings of the namespace), nothing outside it.
resource "azurerm_role_assignment" "deploy_namespace_admin" {
  count                = local.github_deploy ? 1 : 0
  scope                = "${azurerm_kubernetes_cluster.this.id}/namespaces/${var.namespace}"
  role_definition_name = "Azure Kubernetes Service RBAC Admin"
  principal_id         = azurerm_user_assigned_identity.deploy[0].principal_id
  principal_type       = "ServicePrincipal"
}
