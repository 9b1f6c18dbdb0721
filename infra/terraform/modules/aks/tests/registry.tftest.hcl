# The registry the kubelets pull the functions' images from (registry.tf, decision 0022),
# planned against mocks: who may push, and the inputs it refuses. The kubelets' AcrPull reads
# kubelet_identity[0], a block AKS fills in and OpenTofu cannot mock (it is not in the
# configuration), so the plans target the registry and the pipeline's roles;
# tests/infra/test_workflows.py checks the AcrPull assignment's text.

mock_provider "azurerm" {
  mock_data "azurerm_client_config" {
    defaults = {
      tenant_id       = "00000000-0000-0000-0000-000000000001"
      subscription_id = "00000000-0000-0000-0000-000000000002"
      object_id       = "00000000-0000-0000-0000-000000000003"
    }
  }
  mock_resource "azurerm_kubernetes_cluster" {
    defaults = {
      id              = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-tptest/providers/Microsoft.ContainerService/managedClusters/aks-tptest"
      oidc_issuer_url = "https://westeurope.oic.prod-aks.azure.com/tenant/issuer/"
      kube_config = [{
        host                   = "https://aks-tptest.hcp.westeurope.azmk8s.io:443"
        cluster_ca_certificate = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
        client_certificate     = ""
        client_key             = ""
        username               = "mock"
        password               = ""
      }]
    }
  }
  # IDs that other resources parse: the provider checks their shape even against mocks.
  mock_resource "azurerm_log_analytics_workspace" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-tptest/providers/Microsoft.OperationalInsights/workspaces/log-tptest"
    }
  }
  mock_resource "azurerm_key_vault" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-tptest/providers/Microsoft.KeyVault/vaults/tptest-kv-abcde"
    }
  }
  mock_resource "azurerm_user_assigned_identity" {
    defaults = {
      id           = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-tptest/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-tptest"
      principal_id = "00000000-0000-0000-0000-00000000000c"
    }
  }
  mock_resource "azurerm_container_registry" {
    defaults = {
      id           = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-tptest/providers/Microsoft.ContainerRegistry/registries/acrtptest"
      login_server = "acrtptestabcde.azurecr.io"
    }
  }
}
mock_provider "random" {
  mock_resource "random_string" {
    defaults = {
      result = "abcde"
    }
  }
}
mock_provider "time" {}

variables {
  name                        = "tp-test"
  location                    = "westeurope"
  admin_group_object_ids      = ["00000000-0000-0000-0000-000000000004"]
  key_vault_allowed_ip_ranges = ["203.0.113.0/24"]
}

run "nobody_has_a_password" {
  command = plan

  plan_options {
    target = [azurerm_container_registry.this, azurerm_role_assignment.deploy_acr_push, azurerm_role_assignment.deploy_acr_reader]
  }

  assert {
    condition     = azurerm_container_registry.this.name == "acrtptestabcde"
    error_message = "Without a name the registry is acr<name without dashes><suffix>."
  }

  assert {
    condition = alltrue([
      azurerm_container_registry.this.admin_enabled == false,
      azurerm_container_registry.this.anonymous_pull_enabled == false,
      azurerm_container_registry.this.sku == "Standard",
      azurerm_container_registry.this.public_network_access_enabled == true,
      azurerm_container_registry.this.role_assignment_mode == "LegacyRegistryPermissions",
    ])
    error_message = "Admin user and anonymous pull off, Standard and public by default, AcrPull/AcrPush honoured."
  }

  assert {
    condition     = length(azurerm_role_assignment.deploy_acr_push) == 0 && length(azurerm_role_assignment.deploy_acr_reader) == 0
    error_message = "Without github_deploy nobody may push."
  }
}

run "the_pipeline_pushes" {
  command = plan

  plan_options {
    target = [azurerm_container_registry.this, azurerm_role_assignment.deploy_acr_push, azurerm_role_assignment.deploy_acr_reader]
  }

  variables {
    github_deploy      = { repository = "example-org/taskpulse" }
    container_registry = { name = "TaskPulseImages", sku = "Premium", public_network_access = false }
  }

  assert {
    condition = alltrue([
      azurerm_container_registry.this.name == "TaskPulseImages",
      azurerm_container_registry.this.public_network_access_enabled == false,
      azurerm_role_assignment.deploy_acr_push[0].role_definition_name == "AcrPush",
      azurerm_role_assignment.deploy_acr_reader[0].role_definition_name == "Reader",
      azurerm_role_assignment.deploy_acr_push[0].principal_id == "00000000-0000-0000-0000-00000000000c",
    ])
    error_message = "The pipeline's federated identity pushes with AcrPush and reads the registry."
  }
}

run "a_name_with_a_dash_is_refused" {
  command = plan

  variables {
    container_registry = { name = "task-pulse" }
  }

  expect_failures = [var.container_registry]
}

run "a_short_name_is_refused" {
  command = plan

  variables {
    container_registry = { name = "acr1" }
  }

  expect_failures = [var.container_registry]
}

run "an_unknown_sku_is_refused" {
  command = plan

  variables {
    container_registry = { sku = "Free" }
  }

  expect_failures = [var.container_registry]
}

run "a_private_registry_needs_premium" {
  command = plan

  variables {
    container_registry = { sku = "Standard", public_network_access = false }
  }

  expect_failures = [var.container_registry]
}
