# The identity the functions sign in to PostgreSQL with (decision 0023). The server is
# Entra-only, so a function's password is an Entra ID access token of this identity, which
# its pod gets through workload identity: one federated credential per function service
# account, and one for the migration Job's (`taskpulse-migrate`, .github/deploy/migrate.yaml).
# The identity is an Entra administrator of the server: the migrations create the schema as
# it, and the functions use the tables it owns. A narrower role for the functions
# (pgaadauth_create_principal + GRANTs in a migration) is the follow-up the record names.

locals {
  database_service_accounts = var.postgres.enabled ? toset(concat(var.functions, ["taskpulse-migrate"])) : toset([])
}

resource "azurerm_user_assigned_identity" "database" {
  count               = var.postgres.enabled ? 1 : 0
  name                = "id-${var.name}-functions-db"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "database" {
  for_each                  = local.database_service_accounts
  name                      = "${each.key}-db"
  user_assigned_identity_id = azurerm_user_assigned_identity.database[0].id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = azurerm_kubernetes_cluster.this.oidc_issuer_url
  subject                   = "system:serviceaccount:${var.namespace}:${each.key}"
}

# The PostgreSQL role of the same name as the identity: its user name in DATABASE_URL.
resource "azurerm_postgresql_flexible_server_active_directory_administrator" "database" {
  count               = var.postgres.enabled ? 1 : 0
  server_name         = azurerm_postgresql_flexible_server.this[0].name
  resource_group_name = azurerm_resource_group.this.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  object_id           = azurerm_user_assigned_identity.database[0].principal_id
  principal_name      = azurerm_user_assigned_identity.database[0].name
  principal_type      = "ServicePrincipal"

  # The server takes one administrator change at a time.
  depends_on = [azurerm_postgresql_flexible_server_active_directory_administrator.this]
}
