# Optional PostgreSQL Flexible Server with Entra ID authentication only (no password exists).

resource "azurerm_postgresql_flexible_server" "this" {
  # checkov:skip=CKV_AZURE_136: geo-redundant backup is on by default (postgres.geo_redundant_backup = true); checkov cannot follow optional() defaults of an object variable, and regions without a pair need it off.
  # checkov:skip=CKV2_AZURE_57: Public network access is disabled; the server is reached through VNet integration (postgres.delegated_subnet_id + private_dns_zone_id), the Flexible Server alternative to a private endpoint.
  count                         = var.postgres.enabled ? 1 : 0
  name                          = "psql-${var.name}-${random_string.suffix.result}"
  location                      = azurerm_resource_group.this.location
  resource_group_name           = azurerm_resource_group.this.name
  version                       = var.postgres.version
  sku_name                      = var.postgres.sku_name
  storage_mb                    = var.postgres.storage_mb
  auto_grow_enabled             = true
  backup_retention_days         = var.postgres.backup_retention_days
  geo_redundant_backup_enabled  = var.postgres.geo_redundant_backup
  delegated_subnet_id           = var.postgres.delegated_subnet_id
  private_dns_zone_id           = var.postgres.private_dns_zone_id
  public_network_access_enabled = false
  zone                          = "1"
  tags                          = local.tags

  authentication {
    active_directory_auth_enabled = true
    password_auth_enabled         = false
    tenant_id                     = data.azurerm_client_config.current.tenant_id
  }

  lifecycle {
    ignore_changes = [zone]
  }
}

resource "azurerm_postgresql_flexible_server_active_directory_administrator" "this" {
  count               = var.postgres.enabled ? 1 : 0
  server_name         = azurerm_postgresql_flexible_server.this[0].name
  resource_group_name = azurerm_resource_group.this.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  object_id           = var.postgres.admin_object_id
  principal_name      = var.postgres.admin_principal_name
  principal_type      = var.postgres.admin_principal_type
}

resource "azurerm_postgresql_flexible_server_database" "taskpulse" {
  count     = var.postgres.enabled ? 1 : 0
  name      = "taskpulse"
  server_id = azurerm_postgresql_flexible_server.this[0].id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_postgresql_flexible_server_configuration" "require_tls" {
  count     = var.postgres.enabled ? 1 : 0
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.this[0].id
  value     = "on"
}
