output "resource_group_name" {
  description = "Resource group of the cluster and its companions."
  value       = azurerm_resource_group.this.name
}

output "cluster_name" {
  description = "AKS cluster name (for `az aks get-credentials`)."
  value       = azurerm_kubernetes_cluster.this.name
}

output "cluster_id" {
  description = "AKS cluster resource id."
  value       = azurerm_kubernetes_cluster.this.id
}

output "host" {
  description = "API server URL for the kubernetes and helm providers."
  value       = "https://${var.private_cluster ? azurerm_kubernetes_cluster.this.private_fqdn : azurerm_kubernetes_cluster.this.fqdn}:443"
}

output "cluster_ca_certificate" {
  description = "PEM CA certificate of the API server (public, but part of a sensitive attribute)."
  value       = base64decode(azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate)
  sensitive   = true
}

output "oidc_issuer_url" {
  description = "OIDC issuer of the cluster (workload identity federation)."
  value       = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "log_analytics_workspace_id" {
  description = "Log Analytics workspace that Container Insights writes to."
  value       = azurerm_log_analytics_workspace.this.id
}

output "key_vault_name" {
  description = "Key Vault holding the Dapr tokens (<function>-dapr-api-token, <function>-app-api-token)."
  value       = azurerm_key_vault.this.name
}

output "tokens_identity_client_id" {
  description = "Client id of the user-assigned identity that the Dapr Shared pods use to read their tokens."
  value       = azurerm_user_assigned_identity.tokens.client_id
}

output "postgres" {
  description = "PostgreSQL server FQDN and database (null when disabled); sign in with an Entra ID token."
  value = var.postgres.enabled ? {
    fqdn     = azurerm_postgresql_flexible_server.this[0].fqdn
    database = azurerm_postgresql_flexible_server_database.taskpulse[0].name
  } : null
}

output "platform_components" {
  description = "Component toggles for modules/platform that follow from this cluster's add-ons."
  value = {
    keda = !var.keda_addon
    dapr = !var.dapr_extension.enabled
  }
}

output "platform_kafka" {
  description = "Kafka settings for modules/platform."
  value = {
    mode              = var.kafka.mode
    bootstrap_servers = var.kafka.bootstrap_servers
    sasl_secret_name  = var.kafka.sasl_secret_name
    sasl_mechanism    = var.kafka.sasl_mechanism
    tls               = var.kafka.mode == "external" ? var.kafka.tls : false
    replicas          = var.kafka.replicas
    storage_size      = "50Gi"
  }
}

output "platform_secrets" {
  description = "Secrets settings for modules/platform (tokens from Key Vault through the CSI driver)."
  value = {
    source         = "key-vault"
    revision       = var.token_revision
    key_vault_name = azurerm_key_vault.this.name
    tenant_id      = data.azurerm_client_config.current.tenant_id
    client_id      = azurerm_user_assigned_identity.tokens.client_id
  }
}

output "get_credentials_command" {
  description = "How to get a kubeconfig (Entra ID; needs kubelogin)."
  value       = "az aks get-credentials -g ${azurerm_resource_group.this.name} -n ${azurerm_kubernetes_cluster.this.name} && kubelogin convert-kubeconfig -l azurecli"
}

output "database_identity" {
  description = "The identity the functions sign in to PostgreSQL as (null without PostgreSQL): its client id for the service accounts' azure.workload.identity/client-id, and its name, the user in DATABASE_URL."
  value = var.postgres.enabled ? {
    client_id = azurerm_user_assigned_identity.database[0].client_id
    name      = azurerm_user_assigned_identity.database[0].name
  } : null
}

output "database_url" {
  description = "DATABASE_URL of the functions (null without PostgreSQL): no password, the functions sign in with DATABASE_AUTH=entra."
  value       = var.postgres.enabled ? "postgresql://${azurerm_user_assigned_identity.database[0].name}@${azurerm_postgresql_flexible_server.this[0].fqdn}:5432/${azurerm_postgresql_flexible_server_database.taskpulse[0].name}?sslmode=require" : null
}

output "github_deploy" {
  description = "What the pipeline's azure/login takes (null without github_deploy): client_id, tenant_id, subscription_id; and the registry it pushes to: container_registry_name, container_registry_login_server. None of them is a secret."
  value = local.github_deploy ? {
    client_id                       = azurerm_user_assigned_identity.deploy[0].client_id
    tenant_id                       = data.azurerm_client_config.current.tenant_id
    subscription_id                 = data.azurerm_client_config.current.subscription_id
    container_registry_name         = azurerm_container_registry.this.name
    container_registry_login_server = azurerm_container_registry.this.login_server
  } : null
}

output "container_registry" {
  description = "The Azure Container Registry of the functions' images: name, login_server (images are <login_server>/taskpulse/<function>@sha256:...) and id. The kubelets pull from it with AcrPull."
  value = {
    name         = azurerm_container_registry.this.name
    login_server = azurerm_container_registry.this.login_server
    id           = azurerm_container_registry.this.id
  }
}
