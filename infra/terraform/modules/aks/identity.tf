# Dapr tokens in Key Vault, synced into the cluster by the Secrets Store CSI driver through
# workload identity. The token values are ephemeral and written through value_wo: they are
# never stored in Terraform state.

resource "azurerm_key_vault" "this" {
  # checkov:skip=CKV_AZURE_189: Terraform itself writes the tokens, so the data plane must be reachable from where it runs; network_acls denies everything but key_vault_allowed_ip_ranges and trusted Azure services.
  # checkov:skip=CKV2_AZURE_32: A private endpoint needs a VNet that this module does not own (network.subnet_id is optional); the firewall above is the default.
  name                          = local.kv_name
  location                      = azurerm_resource_group.this.location
  resource_group_name           = azurerm_resource_group.this.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 7
  public_network_access_enabled = true
  tags                          = local.tags

  network_acls {
    bypass         = "AzureServices"
    default_action = "Deny"
    ip_rules       = var.key_vault_allowed_ip_ranges
  }
}

# Whoever runs Terraform writes the tokens.
resource "azurerm_role_assignment" "kv_writer" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# Role assignments take a while to reach Key Vault's data plane.
resource "time_sleep" "kv_rbac" {
  create_duration = "90s"
  depends_on      = [azurerm_role_assignment.kv_writer]
}

ephemeral "random_password" "token" {
  for_each = toset(local.token_names)
  length   = 48
  special  = false
}

resource "azurerm_key_vault_secret" "token" {
  # checkov:skip=CKV_AZURE_41: Dapr API/app tokens are rotated by bumping token_revision; an expiry date would stop the CSI sync and break every call silently.
  for_each         = toset(local.token_names)
  name             = each.key
  key_vault_id     = azurerm_key_vault.this.id
  content_type     = "text/plain"
  value_wo         = ephemeral.random_password.token[each.key].result
  value_wo_version = var.token_revision
  tags             = local.tags

  depends_on = [time_sleep.kv_rbac]
}

# The identity that the Dapr Shared pods use to read their tokens.
resource "azurerm_user_assigned_identity" "tokens" {
  name                = "id-${var.name}-dapr-tokens"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_role_assignment" "tokens_reader" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.tokens.principal_id
}

resource "azurerm_federated_identity_credential" "dapr_shared" {
  for_each                  = toset(var.functions)
  name                      = "${each.key}-dapr"
  user_assigned_identity_id = azurerm_user_assigned_identity.tokens.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = azurerm_kubernetes_cluster.this.oidc_issuer_url
  subject                   = "system:serviceaccount:${var.namespace}:${each.key}-dapr"
}
