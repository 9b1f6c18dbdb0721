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
  description = "Origins of the web apps that open a Centrifugo WebSocket (for example https://app.example.com): https only, scheme://host[:port], no path. Empty: no browser may connect until you name one."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.centrifugo_allowed_origins : can(regex("^https://[a-z0-9*]([-a-z0-9*.]*[a-z0-9])?(:[0-9]{1,5})?$", o))])
    error_message = "centrifugo_allowed_origins takes https origins: https://host[:port] in lowercase, no path."
  }
}

variable "domain" {
  description = "Public DNS domain of the edge (modules/platform edge.tf, decision 0031): https://create-task.taskpulse.<domain> and wss://centrifugo.taskpulse.<domain>, Let's Encrypt certificates by HTTP-01 through Kourier. Point *.taskpulse.<domain> at the Kourier LoadBalancer first. null: plain HTTP on Knative's default domain."
  type        = string
  default     = null
}

variable "acme" {
  description = "Let's Encrypt with a `domain`: `email` (the ACME account's contact, required) and `issuer` (\"staging\" until DNS answers, then \"production\")."
  type = object({
    email  = optional(string)
    issuer = optional(string, "staging")
  })
  default = {}
}

variable "registry" {
  description = "Where the function images are, shown in the next steps; null: <the Azure Container Registry's login server>/taskpulse, where the pipeline pushes them."
  type        = string
  default     = null
}

variable "container_registry" {
  description = "The Azure Container Registry of the functions' images (see modules/aks variable container_registry): name (5-50 letters and digits; null: derived), sku, public_network_access."
  type = object({
    name                  = optional(string)
    sku                   = optional(string, "Standard")
    public_network_access = optional(bool, true)
  })
  default = {}
}

# --- identity: Entra ID (or another OpenID Connect issuer) ---------------------------------

variable "oidc_issuer" {
  description = <<-EOT
    The issuer of the users' access tokens, exactly their `iss` claim. Entra ID v2.0 tokens:
    `https://login.microsoftonline.com/<tenant-id>/v2.0` (the API's app registration must ask
    for v2.0 access tokens, `requestedAccessTokenVersion = 2` in its manifest; v1.0 tokens carry
    `https://sts.windows.net/<tenant-id>/` instead).
  EOT
  type        = string

  validation {
    condition     = can(regex("^https://[^/?#[:space:]]+(/[^?#[:space:]]*)?$", var.oidc_issuer))
    error_message = "oidc_issuer must be an https URL without query or fragment, such as https://login.microsoftonline.com/<tenant-id>/v2.0."
  }
}

variable "oidc_audience" {
  description = "The `aud` of the access tokens: with Entra ID v2.0 tokens the API app registration's application (client) id; with v1.0 tokens its Application ID URI (`api://...`)."
  type        = string

  validation {
    condition     = can(regex("^[^[:space:]]{1,255}$", var.oidc_audience))
    error_message = "oidc_audience must be 1 to 255 characters without whitespace (the client id or api:// URI of the API's app registration)."
  }
}

variable "oidc_user_claim" {
  description = "The claim that names the user. `oid` on Entra ID: the user's object id, one value per user in the tenant, whichever app asks (Entra's `sub` is pairwise, different for each application). Also what Centrifugo takes as the connection's user."
  type        = string
  default     = "oid"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_-]{0,63}$", var.oidc_user_claim))
    error_message = "oidc_user_claim must be a top-level claim name, such as oid or sub."
  }
}

variable "oidc_service_scope" {
  description = "The scope (in Entra ID: the value of the app role or delegated scope) that marks a trusted backend allowed to act for the user it names."
  type        = string
  default     = "taskpulse.service"
}

variable "oidc_jwks_url" {
  description = "The issuer's signing keys (JWKS). null: for an Entra ID issuer, its tenant's `https://login.microsoftonline.com/<tenant-id>/discovery/v2.0/keys` (what its discovery document names); for another issuer, nothing (create-task uses discovery), and then Centrifugo needs centrifugo_token_verification = \"hmac\" or this set."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_jwks_url == null || can(regex("^https://[^/?#[:space:]]+(/[^#[:space:]]*)?$", var.oidc_jwks_url))
    error_message = "oidc_jwks_url must be an https URL."
  }
}

variable "centrifugo_token_verification" {
  description = "How Centrifugo verifies connection tokens: \"jwks\" (the users' Entra ID access tokens, as create-task) or \"hmac\" (tokens your backend mints with the key in Secret centrifugo)."
  type        = string
  default     = "jwks"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose main branch deploys (.github/workflows/main.yml): Terraform gives it an identity with a federated credential for GitHub's OIDC token, so the pipeline holds no secret. Empty: no pipeline identity."
  type        = string
  default     = ""
}
