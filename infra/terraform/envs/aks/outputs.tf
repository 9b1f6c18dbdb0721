output "cluster_name" {
  description = "AKS cluster name."
  value       = module.aks.cluster_name
}

output "resource_group_name" {
  description = "Resource group of the cluster."
  value       = module.aks.resource_group_name
}

output "key_vault_name" {
  description = "Key Vault with the Dapr tokens."
  value       = module.aks.key_vault_name
}

output "postgres" {
  description = "PostgreSQL FQDN and database, or null."
  value       = module.aks.postgres
}

output "github_deploy" {
  description = "The pipeline's azure/login inputs (repository variables AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_SUBSCRIPTION_ID; not secrets), the registry it pushes to (ACR_NAME, ACR_LOGIN_SERVER), and what its deploy job needs: AKS_RESOURCE_GROUP, AKS_CLUSTER_NAME, AZURE_DATABASE_CLIENT_ID."
  value = module.aks.github_deploy == null ? null : merge(module.aks.github_deploy, {
    resource_group_name      = module.aks.resource_group_name
    cluster_name             = module.aks.cluster_name
    database_identity_client = module.aks.database_identity == null ? null : module.aks.database_identity.client_id
  })
}

output "container_registry" {
  description = "The Azure Container Registry the kubelets pull the functions' images from: name, login_server, id."
  value       = module.aks.container_registry
}

output "installed" {
  description = "Which platform components this root installed."
  value       = module.platform.installed
}

output "oidc" {
  description = "The OpenID Connect settings create-task (ConfigMap taskpulse-identity) and Centrifugo accept tokens by."
  value       = merge(module.platform.oidc, { centrifugo = module.platform.centrifugo_token_verification })
}

output "next_steps" {
  description = "What to run next."
  value       = <<-EOT
    1. Get a kubeconfig:  ${module.aks.get_credentials_command}
    2. Build and push each function image to ${local.registry} (the pipeline does: decision 0022), then deploy it by digest:
    %{for f, ep in module.platform.dapr_http_endpoints~}
         kn func deploy --path functions/${f} --namespace ${module.platform.namespace} --image ${local.registry}/${f}@sha256:<digest>
           # env DAPR_HTTP_ENDPOINT=${ep}, tokens from Secret ${f}-dapr-tokens, serviceAccountName ${f}
    %{endfor~}
           # create-task also reads OIDC_* from ConfigMap ${module.platform.identity_config_map} (issuer ${var.oidc_issuer})
    3. Public routes go through Kourier: kubectl -n knative-serving get svc kourier
    %{if var.domain != null~}
       Point *.${module.platform.namespace}.${var.domain} at its EXTERNAL-IP; certificates come from ${module.platform.cluster_issuer}:
         ${try(module.platform.public_urls.create_task, "")}
         ${try(module.platform.public_urls.centrifugo_websocket, "")}
    %{else~}
       No domain: plain HTTP (set `domain` and `acme.email` for HTTPS, decision 0031).
    %{endif~}
       Callers send Entra ID access tokens for audience ${var.oidc_audience}; Centrifugo takes the same.
  EOT
}

output "public_urls" {
  description = "With `domain`: https://create-task.<namespace>.<domain> and Centrifugo's wss:// endpoint; null without."
  value       = module.platform.public_urls
}
