# AKS for TaskPulse: the cluster, its identity plumbing, Key Vault for the Dapr tokens and,
# optionally, PostgreSQL. The azurerm provider is configured by the root module.

data "azurerm_client_config" "current" {}

locals {
  tags        = merge({ "app" = "taskpulse", "managed-by" = "terraform" }, var.tags)
  kv_name     = substr("${var.name}-kv-${random_string.suffix.result}", 0, 24)
  token_names = flatten([for f in var.functions : ["${f}-dapr-api-token", "${f}-app-api-token"]])
}

resource "random_string" "suffix" {
  length  = 5
  special = false
  upper   = false
}

resource "azurerm_resource_group" "this" {
  name     = "rg-${var.name}"
  location = var.location
  tags     = local.tags
}

resource "azurerm_log_analytics_workspace" "this" {
  name                = "log-${var.name}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

resource "azurerm_kubernetes_cluster" "this" {
  # checkov:skip=CKV_AZURE_115: private_cluster is an input (default off: a public API server limited by api_server_authorized_ip_ranges and Entra ID auth, local accounts disabled), so that the first apply works from a laptop or a hosted CI runner.
  # checkov:skip=CKV_AZURE_117: OS and data disks use host encryption (host_encryption_enabled) with platform-managed keys; a customer-managed disk encryption set is an organisational choice this module does not force.
  name                = "aks-${var.name}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  dns_prefix          = var.name
  kubernetes_version  = var.kubernetes_version
  sku_tier            = var.sku_tier
  tags                = local.tags

  # Upgrades happen by themselves, inside the maintenance windows below.
  automatic_upgrade_channel = var.upgrades.cluster_channel
  node_os_upgrade_channel   = var.upgrades.node_os_channel

  maintenance_window_auto_upgrade {
    frequency   = "Weekly"
    interval    = 1
    day_of_week = var.upgrades.day_of_week
    start_time  = var.upgrades.start_time
    utc_offset  = "+00:00"
    duration    = var.upgrades.duration_hours
  }

  maintenance_window_node_os {
    frequency   = "Weekly"
    interval    = 1
    day_of_week = var.upgrades.node_os_day
    start_time  = var.upgrades.node_os_start
    utc_offset  = "+00:00"
    duration    = var.upgrades.duration_hours
  }

  # azurerm v5: required; Manual = node pools are managed here, not by node auto-provisioning.
  node_provisioning_profile {
    mode = "Manual"
  }

  default_node_pool {
    name                         = "system"
    vm_size                      = var.system_pool.vm_size
    auto_scaling_enabled         = true
    min_count                    = var.system_pool.min_count
    max_count                    = var.system_pool.max_count
    zones                        = var.system_pool.zones
    only_critical_addons_enabled = true
    host_encryption_enabled      = true
    os_disk_type                 = "Ephemeral"
    os_sku                       = "AzureLinux"
    max_pods                     = 110
    vnet_subnet_id               = var.network.subnet_id
    temporary_name_for_rotation  = "systemtmp"
    tags                         = local.tags

    upgrade_settings {
      max_surge                     = "33%"
      drain_timeout_in_minutes      = 30
      node_soak_duration_in_minutes = 0
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_policy      = "cilium"
    network_data_plane  = "cilium"
    pod_cidr            = var.network.pod_cidr
    service_cidr        = var.network.service_cidr
    dns_service_ip      = var.network.dns_service_ip
    load_balancer_sku   = "standard"
  }

  dynamic "api_server_access_profile" {
    for_each = length(var.api_server_authorized_ip_ranges) > 0 ? [1] : []
    content {
      authorized_ip_ranges = var.api_server_authorized_ip_ranges
    }
  }
  private_cluster_enabled = var.private_cluster

  # Entra ID only: no local admin kubeconfig, Kubernetes RBAC through Azure RBAC.
  local_account_disabled            = true
  role_based_access_control_enabled = true
  azure_active_directory_role_based_access_control {
    tenant_id              = data.azurerm_client_config.current.tenant_id
    admin_group_object_ids = var.admin_group_object_ids
    azure_rbac_enabled     = true
  }

  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  workload_autoscaler_profile {
    keda_enabled = var.keda_addon
  }

  key_vault_secrets_provider {
    secret_rotation_enabled  = true
    secret_rotation_interval = "2m"
  }

  azure_policy_enabled         = true
  image_cleaner_enabled        = true
  image_cleaner_interval_hours = 48

  oms_agent {
    log_analytics_workspace_id      = azurerm_log_analytics_workspace.this.id
    msi_auth_for_monitoring_enabled = true
  }

  lifecycle {
    # The upgrade channel moves the version; do not fight it.
    ignore_changes = [kubernetes_version, default_node_pool[0].orchestrator_version]
  }
}

resource "azurerm_kubernetes_cluster_node_pool" "user" {
  name                        = "user"
  kubernetes_cluster_id       = azurerm_kubernetes_cluster.this.id
  mode                        = "User"
  vm_size                     = var.user_pool.vm_size
  auto_scaling_enabled        = true
  min_count                   = var.user_pool.min_count
  max_count                   = var.user_pool.max_count
  zones                       = var.user_pool.zones
  host_encryption_enabled     = true
  os_disk_type                = "Ephemeral"
  os_sku                      = "AzureLinux"
  max_pods                    = 110
  vnet_subnet_id              = var.network.subnet_id
  temporary_name_for_rotation = "usertmp"
  node_labels                 = { "taskpulse.dev/pool" = "user" }
  tags                        = local.tags

  upgrade_settings {
    max_surge                = "33%"
    drain_timeout_in_minutes = 30
  }

  lifecycle {
    ignore_changes = [orchestrator_version]
  }
}

# --- Dapr as the AKS extension (optional; otherwise the platform module installs the chart) --

resource "azurerm_kubernetes_cluster_extension" "dapr" {
  count             = var.dapr_extension.enabled ? 1 : 0
  name              = "dapr"
  cluster_id        = azurerm_kubernetes_cluster.this.id
  extension_type    = "Microsoft.Dapr"
  release_train     = "stable"
  version           = var.dapr_extension.version
  release_namespace = "dapr-system"
  configuration_settings = {
    "global.ha.enabled" = "true"
  }

  depends_on = [azurerm_kubernetes_cluster_node_pool.user]
}
