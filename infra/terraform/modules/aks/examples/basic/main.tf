# modules/aks on its own: a cluster with the KEDA add-on, Dapr from the AKS extension and
# PostgreSQL. envs/aks shows the whole thing with the platform on top.

terraform {
  required_version = ">= 1.11.0"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.9"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "azurerm" {
  features {}
  resource_providers_to_register = [
    "Microsoft.ContainerService", "Microsoft.KeyVault", "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights", "Microsoft.OperationsManagement",
    "Microsoft.PolicyInsights", "Microsoft.KubernetesConfiguration", "Microsoft.DBforPostgreSQL",
    "Microsoft.ContainerRegistry",
  ]
}

module "versions" {
  source = "../../../versions"
}

module "aks" {
  source = "../.."

  name                            = "tpdemo"
  location                        = "westeurope"
  admin_group_object_ids          = ["00000000-0000-0000-0000-000000000000"]
  api_server_authorized_ip_ranges = ["203.0.113.0/24"]
  key_vault_allowed_ip_ranges     = ["203.0.113.0/24"]
  dapr_extension                  = { enabled = true, version = module.versions.pins.dapr }
  container_registry              = { name = "tpdemoimages", sku = "Standard" }
  github_deploy                   = { repository = "example-org/taskpulse" }
  postgres = {
    enabled              = true
    admin_object_id      = "00000000-0000-0000-0000-000000000000"
    admin_principal_name = "taskpulse-db-admins"
  }
}

output "get_credentials_command" {
  value = module.aks.get_credentials_command
}

output "container_registry_login_server" {
  value = module.aks.container_registry.login_server
}
