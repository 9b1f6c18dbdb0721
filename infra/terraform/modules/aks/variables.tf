variable "name" {
  description = "Base name of every resource (cluster, resource group, Key Vault, ...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.name))
    error_message = "name must be 3-16 lowercase letters, digits or dashes, starting with a letter (Key Vault names are limited to 24 characters)."
  }
}

variable "location" {
  description = "Azure region, for example westeurope."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (major.minor); null takes the current default and lets the upgrade channel move it."
  type        = string
  default     = null

  validation {
    condition     = var.kubernetes_version == null || can(regex("^1\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.34."
  }
}

variable "sku_tier" {
  description = "AKS tier: Free (no uptime SLA), Standard or Premium."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Free", "Standard", "Premium"], var.sku_tier)
    error_message = "sku_tier must be Free, Standard or Premium."
  }
}

variable "system_pool" {
  description = "System node pool (tainted CriticalAddonsOnly): VM size and autoscaling bounds."
  type = object({
    vm_size   = optional(string, "Standard_D4ds_v5")
    min_count = optional(number, 2)
    max_count = optional(number, 4)
    zones     = optional(list(string), ["1", "2", "3"])
  })
  default = {}

  validation {
    condition     = var.system_pool.min_count >= 1 && var.system_pool.max_count >= var.system_pool.min_count
    error_message = "system_pool needs 1 <= min_count <= max_count."
  }
}

variable "user_pool" {
  description = "User node pool for the platform and the functions: VM size and autoscaling bounds."
  type = object({
    vm_size   = optional(string, "Standard_D4ds_v5")
    min_count = optional(number, 1)
    max_count = optional(number, 6)
    zones     = optional(list(string), ["1", "2", "3"])
  })
  default = {}

  validation {
    condition     = var.user_pool.min_count >= 0 && var.user_pool.max_count >= max(var.user_pool.min_count, 1)
    error_message = "user_pool needs 0 <= min_count <= max_count and max_count >= 1."
  }
}

variable "network" {
  description = "Azure CNI overlay ranges; subnet_id places the nodes in an existing subnet (null: AKS creates the network)."
  type = object({
    subnet_id      = optional(string)
    pod_cidr       = optional(string, "10.244.0.0/16")
    service_cidr   = optional(string, "10.0.0.0/16")
    dns_service_ip = optional(string, "10.0.0.10")
  })
  default = {}

  validation {
    condition     = can(cidrhost(var.network.pod_cidr, 0)) && can(cidrhost(var.network.service_cidr, 0))
    error_message = "network.pod_cidr and network.service_cidr must be CIDR ranges."
  }
}

variable "api_server_authorized_ip_ranges" {
  description = "CIDR ranges allowed to reach the API server (your office, CI egress). Empty leaves it open to Entra ID-authenticated callers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.api_server_authorized_ip_ranges : can(cidrhost(r, 0))])
    error_message = "api_server_authorized_ip_ranges must be CIDR ranges."
  }
}

variable "private_cluster" {
  description = "Expose the API server on a private IP only (needs network.subnet_id and a way into the network)."
  type        = bool
  default     = false
}

variable "admin_group_object_ids" {
  description = "Entra ID groups that are cluster admins (local accounts are disabled, so someone must be)."
  type        = list(string)

  validation {
    condition     = length(var.admin_group_object_ids) > 0
    error_message = "admin_group_object_ids needs at least one group."
  }
}

variable "upgrades" {
  description = "Automatic upgrade channels and their weekly maintenance windows (UTC)."
  type = object({
    cluster_channel = optional(string, "patch")
    node_os_channel = optional(string, "NodeImage")
    day_of_week     = optional(string, "Sunday")
    start_time      = optional(string, "02:00")
    duration_hours  = optional(number, 4)
    node_os_day     = optional(string, "Saturday")
    node_os_start   = optional(string, "02:00")
  })
  default = {}

  validation {
    condition     = contains(["patch", "rapid", "node-image", "stable"], var.upgrades.cluster_channel)
    error_message = "upgrades.cluster_channel must be patch, rapid, node-image or stable."
  }
  validation {
    condition     = contains(["Unmanaged", "SecurityPatch", "NodeImage"], var.upgrades.node_os_channel)
    error_message = "upgrades.node_os_channel must be Unmanaged, SecurityPatch or NodeImage."
  }
  validation {
    condition     = var.upgrades.duration_hours >= 4 && var.upgrades.duration_hours <= 24
    error_message = "upgrades.duration_hours must be between 4 and 24."
  }
}

variable "log_retention_days" {
  description = "Log Analytics retention in days."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "keda_addon" {
  description = "Use the AKS KEDA add-on (then the platform module must not install the KEDA chart)."
  type        = bool
  default     = true
}

variable "dapr_extension" {
  description = "Install Dapr as the AKS extension Microsoft.Dapr instead of the chart, at `version` (the project's Dapr pin; the extension may lag upstream releases)."
  type = object({
    enabled = optional(bool, false)
    version = optional(string, "")
  })
  default = {}

  validation {
    condition     = !var.dapr_extension.enabled || can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.dapr_extension.version))
    error_message = "dapr_extension.version must be a version like 1.18.3 when the extension is enabled."
  }
}

variable "functions" {
  description = "Function names (contract.py Function): each gets Dapr tokens in Key Vault and a federated credential for its Dapr Shared service account."
  type        = list(string)
  default     = ["create-task", "compute-next-occurrence", "send-reminder", "push-update"]
}

variable "namespace" {
  description = "Kubernetes namespace of the functions (the same as the platform module's)."
  type        = string
  default     = "taskpulse"
}

variable "token_revision" {
  description = "Bump to generate and store new Dapr tokens in Key Vault (they are write-only: never in state)."
  type        = number
  default     = 1
}

variable "key_vault_allowed_ip_ranges" {
  description = "CIDR ranges (besides trusted Azure services) allowed to reach Key Vault; the address tofu runs from must be among them, since it writes the tokens."
  type        = list(string)

  validation {
    condition     = length(var.key_vault_allowed_ip_ranges) > 0 && alltrue([for r in var.key_vault_allowed_ip_ranges : can(cidrhost(r, 0))])
    error_message = "key_vault_allowed_ip_ranges needs at least one CIDR range, including the public address tofu runs from (Key Vault denies everything else)."
  }
}

variable "postgres" {
  description = "Optional Azure Database for PostgreSQL Flexible Server (Entra ID authentication only: no password anywhere)."
  type = object({
    enabled               = optional(bool, false)
    version               = optional(string, "17")
    sku_name              = optional(string, "B_Standard_B1ms")
    storage_mb            = optional(number, 32768)
    backup_retention_days = optional(number, 7)
    geo_redundant_backup  = optional(bool, true)
    delegated_subnet_id   = optional(string)
    private_dns_zone_id   = optional(string)
    admin_object_id       = optional(string, "")
    admin_principal_name  = optional(string, "")
    admin_principal_type  = optional(string, "Group")
  })
  default = {}

  validation {
    condition     = !var.postgres.enabled || (var.postgres.admin_object_id != "" && var.postgres.admin_principal_name != "")
    error_message = "postgres.admin_object_id and admin_principal_name are required when postgres is enabled."
  }
  validation {
    condition     = var.postgres.backup_retention_days >= 7 && var.postgres.backup_retention_days <= 35
    error_message = "postgres.backup_retention_days must be between 7 and 35."
  }
}

variable "kafka" {
  description = <<-EOT
    Kafka choice handed to the platform module. mode "strimzi" or "redpanda": in the cluster;
    "external": a managed Kafka-compatible service (for example Confluent Cloud, or Event Hubs'
    Kafka endpoint) at `bootstrap_servers`, with SASL credentials in the Kubernetes Secret
    `sasl_secret_name` (created by you, keys username/password).
  EOT
  type = object({
    mode              = optional(string, "strimzi")
    bootstrap_servers = optional(string, "")
    sasl_secret_name  = optional(string, "")
    sasl_mechanism    = optional(string, "SCRAM-SHA-512")
    tls               = optional(bool, true)
    replicas          = optional(number, 3)
  })
  default = {}

  validation {
    condition     = contains(["strimzi", "redpanda", "external"], var.kafka.mode)
    error_message = "kafka.mode must be strimzi, redpanda or external."
  }
  validation {
    condition     = var.kafka.mode != "external" || var.kafka.bootstrap_servers != ""
    error_message = "kafka.bootstrap_servers is required when kafka.mode is external."
  }
}

variable "github_deploy" {
  description = "The GitHub repository (owner/name) whose `branch` deploys through GitHub's OIDC token: a user-assigned identity with a federated credential for `repo:<repository>:ref:refs/heads/<branch>`, cluster-user on AKS and admin of the namespace. Empty repository: none."
  type = object({
    repository = optional(string, "")
    branch     = optional(string, "main")
  })
  default = {}

  validation {
    condition     = var.github_deploy.repository == "" || can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_deploy.repository))
    error_message = "github_deploy.repository must be owner/name."
  }
  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_deploy.branch))
    error_message = "github_deploy.branch must be a branch name."
  }
}

variable "container_registry" {
  description = "The Azure Container Registry of the functions' images: `name` (5-50 letters and digits, globally unique; null: acr<name><suffix>), `sku` (Basic, Standard or Premium) and `public_network_access` (false needs Premium and a private endpoint, and then a runner inside the network to push). The admin user is always off: the kubelets pull with AcrPull, the pipeline pushes with AcrPush."
  type = object({
    name                  = optional(string)
    sku                   = optional(string, "Standard")
    public_network_access = optional(bool, true)
  })
  default = {}

  validation {
    condition     = var.container_registry.name == null || can(regex("^[a-zA-Z0-9]{5,50}$", var.container_registry.name))
    error_message = "container_registry.name must be 5 to 50 letters and digits (no dashes)."
  }
  validation {
    condition     = contains(["Basic", "Standard", "Premium"], var.container_registry.sku)
    error_message = "container_registry.sku must be Basic, Standard or Premium."
  }
  validation {
    condition     = var.container_registry.public_network_access || var.container_registry.sku == "Premium"
    error_message = "container_registry.public_network_access = false needs sku Premium (private endpoints are a Premium feature)."
  }
}
