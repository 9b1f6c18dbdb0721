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
