variable "subscription_id" {
  description = "Azure subscription to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID."
  }
}

variable "name" {
  description = "Base name of the Azure resources (3-16 characters)."
  type        = string
  default     = "taskpulse"
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "westeurope"
}

variable "admin_group_object_ids" {
  description = "Entra ID groups that administer the cluster."
  type        = list(string)
}

variable "api_server_authorized_ip_ranges" {
  description = "CIDR ranges allowed to reach the API server (include the machine or CI runner that runs tofu)."
  type        = list(string)
  default     = []
}

variable "key_vault_allowed_ip_ranges" {
  description = "CIDR ranges allowed to reach Key Vault (include the machine or CI runner that runs tofu)."
  type        = list(string)
}

variable "dapr_extension" {
  description = "true: Dapr from the AKS extension Microsoft.Dapr (at the project's Dapr pin); false: the Dapr chart."
  type        = bool
  default     = false
}

variable "keda_addon" {
  description = "true: the AKS KEDA add-on; false: the KEDA chart."
  type        = bool
  default     = true
}

variable "components" {
  description = "Platform component toggles (dapr and keda follow dapr_extension and keda_addon)."
  type = object({
    cert_manager   = optional(bool, true)
    monitoring     = optional(bool, true)
    knative        = optional(bool, true)
    kafka          = optional(bool, true)
    centrifugo     = optional(bool, true)
    dapr_shared    = optional(bool, true)
    dapr_resources = optional(bool, true)
  })
  default = {}
}

variable "kafka" {
  description = "Kafka choice (see modules/aks variable kafka): strimzi, redpanda or external."
  type = object({
    mode              = optional(string, "strimzi")
    bootstrap_servers = optional(string, "")
    sasl_secret_name  = optional(string, "")
    sasl_mechanism    = optional(string, "SCRAM-SHA-512")
    tls               = optional(bool, true)
    replicas          = optional(number, 3)
  })
  default = {}
}

variable "postgres" {
  description = "Optional PostgreSQL Flexible Server (see modules/aks variable postgres)."
  type = object({
    enabled              = optional(bool, false)
    delegated_subnet_id  = optional(string)
    private_dns_zone_id  = optional(string)
    admin_object_id      = optional(string, "")
    admin_principal_name = optional(string, "")
  })
  default = {}
}

variable "kubelogin_mode" {
  description = "How kubelogin gets Entra ID tokens for the kubernetes/helm providers: azurecli (after `az login` or azure/login in CI) or workloadidentity."
  type        = string
  default     = "azurecli"

  validation {
    condition     = contains(["azurecli", "workloadidentity", "spn", "msi"], var.kubelogin_mode)
    error_message = "kubelogin_mode must be azurecli, workloadidentity, spn or msi."
  }
}

variable "deployer_subjects" {
  description = "Subjects allowed to deploy the functions in the namespace (for example the CI group)."
  type = list(object({
    kind      = string
    name      = string
    namespace = optional(string)
  }))
  default = []
}

variable "centrifugo_allowed_origins" {
  description = "Origins of the web apps that open a Centrifugo WebSocket (for example https://app.example.com)."
  type        = list(string)
  default     = ["http://localhost:3000"]

  validation {
    condition     = alltrue([for o in var.centrifugo_allowed_origins : can(regex("^https?://[^/]+$", o)) || o == "*"])
    error_message = "centrifugo_allowed_origins takes origins: scheme://host[:port], no path."
  }
}

variable "registry" {
  description = "Container registry of the function images (shown in the next steps)."
  type        = string
  default     = "<your-registry>.azurecr.io/taskpulse"
}
