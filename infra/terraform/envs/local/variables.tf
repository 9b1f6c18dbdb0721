variable "kubeconfig_path" {
  description = "Path of the kubeconfig that holds the laptop cluster's context."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Context of the laptop cluster: `minikube` or `kind-<name>` (kind names contexts kind-<cluster>)."
  type        = string
  default     = "minikube"

  validation {
    condition     = can(regex("^(minikube|kind-[a-z0-9-]+|docker-desktop|rancher-desktop|k3d-[a-z0-9-]+)$", var.kube_context))
    error_message = "kube_context must be a laptop cluster context: minikube, kind-<name>, k3d-<name>, docker-desktop or rancher-desktop."
  }
}

variable "components" {
  description = "Component toggles passed to modules/platform (monitoring is off by default on a laptop)."
  type = object({
    cert_manager   = optional(bool, true)
    monitoring     = optional(bool, false)
    knative        = optional(bool, true)
    dapr           = optional(bool, true)
    keda           = optional(bool, true)
    kafka          = optional(bool, true)
    centrifugo     = optional(bool, true)
    dapr_shared    = optional(bool, true)
    dapr_resources = optional(bool, true)
  })
  default = {}
}

variable "kafka_mode" {
  description = "In-cluster Kafka: strimzi or redpanda."
  type        = string
  default     = "strimzi"

  validation {
    condition     = contains(["strimzi", "redpanda"], var.kafka_mode)
    error_message = "kafka_mode must be strimzi or redpanda on a laptop cluster."
  }
}

variable "storage_class" {
  description = "Storage class (null: the cluster default, `standard` on both minikube and kind)."
  type        = string
  default     = null
}

variable "registry" {
  description = "Image registry the functions are pushed to (shown in the next steps)."
  type        = string
  default     = "localhost:5000/taskpulse"
}

# --- identity: the ORY Hydra that `task up` runs on this machine -----------------------------

variable "oidc_issuer" {
  description = "The issuer of the local users' access tokens, exactly their `iss`: the ORY Hydra of `task up` (`oidc_issuer` in .local/endpoints.json)."
  type        = string
  default     = "http://127.0.0.1:4444/"

  validation {
    condition     = can(regex("^https?://[^/?#[:space:]]+(/[^?#[:space:]]*)?$", var.oidc_issuer))
    error_message = "oidc_issuer must be an absolute http(s) URL without query or fragment."
  }
}

variable "oidc_audience" {
  description = "The `aud` of the access tokens (what `task token` asks Hydra for)."
  type        = string
  default     = "taskpulse"

  validation {
    condition     = can(regex("^[^[:space:]]{1,255}$", var.oidc_audience))
    error_message = "oidc_audience must be 1 to 255 characters without whitespace."
  }
}

variable "oidc_user_claim" {
  description = "The claim that names the user (Hydra puts the login's subject in `sub`)."
  type        = string
  default     = "sub"
}

variable "oidc_service_scope" {
  description = "The scope that marks a trusted backend."
  type        = string
  default     = "taskpulse.service"
}

variable "host_address" {
  description = <<-EOT
    How pods reach this machine, where Hydra listens: `host.minikube.internal` on minikube;
    on kind the gateway of its Docker network
    (`docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}'`). Tokens still name
    the issuer by oidc_issuer; only the keys are fetched through this address, so Hydra must
    listen on an address the cluster can reach, not only 127.0.0.1.
  EOT
  type        = string
  default     = "host.minikube.internal"

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+$", var.host_address))
    error_message = "host_address must be a host name or an IPv4 address."
  }
}

variable "oidc_jwks_url" {
  description = "Where pods fetch the issuer's keys. null: Hydra's `/.well-known/jwks.json` at oidc_issuer with a 127.0.0.1/localhost host replaced by host_address."
  type        = string
  default     = null
}

variable "centrifugo_token_verification" {
  description = "How Centrifugo verifies connection tokens: \"jwks\" (Hydra's access tokens, as create-task) or \"hmac\" (tokens minted with the key in Secret centrifugo)."
  type        = string
  default     = "jwks"
}

variable "knative_domain" {
  description = "Domain of the Knative routes, plain HTTP (a laptop has no public domain, hence no certificates): \"\" keeps Knative's example.com (send the Host header), or an sslip.io name such as \"127.0.0.1.sslip.io\" that resolves to where Kourier is reached (a port-forward on this machine)."
  type        = string
  default     = ""

  validation {
    condition     = var.knative_domain == "" || can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.knative_domain))
    error_message = "knative_domain must be empty or a lowercase DNS name such as 127.0.0.1.sslip.io."
  }
}
