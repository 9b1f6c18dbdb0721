# modules/platform on a kind cluster (`kind create cluster --name taskpulse`), with Redpanda
# instead of Strimzi and without monitoring.

terraform {
  required_version = ">= 1.11.0"
  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.9"
    }
  }
}

provider "kubernetes" {
  config_path    = "~/.kube/config"
  config_context = "kind-taskpulse"
}

provider "helm" {
  kubernetes = {
    config_path    = "~/.kube/config"
    config_context = "kind-taskpulse"
  }
}

module "platform" {
  source = "../.."

  environment = "local"
  components  = { monitoring = false }
  kafka       = { mode = "redpanda", storage_size = "5Gi" }

  # Tokens from the ORY Hydra of `task up` on this machine; pods fetch its keys through the
  # gateway of kind's Docker network (docker network inspect kind).
  oidc_issuer   = "http://127.0.0.1:4444/"
  oidc_jwks_url = "http://172.18.0.1:4444/.well-known/jwks.json"

  # No public domain (`domain` null): no ClusterIssuer, no certificate, plain HTTP. Routes get
  # this sslip.io name, which resolves to 127.0.0.1: after
  # `kubectl -n knative-serving port-forward svc/kourier 8080:80`, create-task answers at
  # http://create-task.taskpulse.127.0.0.1.sslip.io:8080.
  knative_domain = "127.0.0.1.sslip.io"
}

output "dapr_http_endpoints" {
  value = module.platform.dapr_http_endpoints
}
