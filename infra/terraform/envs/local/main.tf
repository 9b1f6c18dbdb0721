provider "kubernetes" {
  config_path    = pathexpand(var.kubeconfig_path)
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = pathexpand(var.kubeconfig_path)
    config_context = var.kube_context
  }
}

module "platform" {
  source = "../../modules/platform"

  environment   = "local"
  components    = var.components
  storage_class = var.storage_class
  kafka = {
    mode         = var.kafka_mode
    replicas     = 1
    storage_size = "5Gi"
  }
  centrifugo_allowed_origins = ["http://localhost:3000", "http://127.0.0.1:3000"]
}
