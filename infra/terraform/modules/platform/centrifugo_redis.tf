# Centrifugo scales out (decision 0025): with more than one replica, every replica runs
# Centrifugo's Redis engine on one shared Redis, so that a publication made through any
# replica's server API reaches the clients connected to every other one. Centrifugo keeps
# only PUB/SUB fan-out and presence there (TaskPulse's namespace has no history), nothing
# that must survive a restart: the in-cluster server is one Valkey (the BSD-licensed Redis
# fork; Centrifugo's engine library tests against it) that persists nothing.
# tests/devstack/test_centrifugo_cluster.py runs two real nodes on one real Redis.

variable "centrifugo_replicas" {
  description = "Centrifugo replicas. null: 1 when environment is \"local\" (memory engine, no Redis), 2 on AKS. More than one runs Centrifugo's Redis engine, shared by all replicas (`centrifugo_redis`), spread over nodes, with a PodDisruptionBudget that keeps one up."
  type        = number
  default     = null

  validation {
    condition     = var.centrifugo_replicas == null || try(var.centrifugo_replicas >= 1 && var.centrifugo_replicas <= 10 && floor(var.centrifugo_replicas) == var.centrifugo_replicas, false)
    error_message = "centrifugo_replicas must be a whole number from 1 to 10 (or null)."
  }
}

variable "centrifugo_redis" {
  description = <<-EOT
    The Redis that Centrifugo's replicas share when there is more than one. `address` null (the
    default): this module runs one Valkey (image pin `valkey` in modules/versions) in the
    namespace, with a generated password in Secret `centrifugo-redis` (rotated with
    `secrets.revision`) and nothing persisted. An address (`rediss://host:port`, for example a
    managed Redis): a Redis run elsewhere, whose password is the key `password` of the Secret
    `secret_name` in the namespace, made by whoever runs that Redis. Plain `redis://` is
    refused outside environment = "local".
  EOT
  type = object({
    address     = optional(string)
    secret_name = optional(string, "")
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.centrifugo_redis.address == null || can(regex("^rediss?://[^/?#@[:space:]]+:[0-9]{1,5}$", coalesce(var.centrifugo_redis.address, "-")))
    error_message = "centrifugo_redis.address must be redis://host:port or rediss://host:port, without credentials (the password comes from secret_name)."
  }
  validation {
    condition     = var.centrifugo_redis.address == null || var.environment == "local" || startswith(coalesce(var.centrifugo_redis.address, "rediss://"), "rediss://")
    error_message = "centrifugo_redis.address must use rediss:// (TLS) outside a laptop cluster: the password and every publication cross the network to it."
  }
  validation {
    condition     = var.centrifugo_redis.address == null || can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.centrifugo_redis.secret_name))
    error_message = "centrifugo_redis.secret_name must name the Secret (in the namespace) whose key `password` is the external Redis's password."
  }
}

locals {
  centrifugo_replicas = coalesce(var.centrifugo_replicas, local.replicas)
  # The memory engine serves one node only: a second replica would never see the first
  # one's publications.
  centrifugo_redis_engine     = local.c.centrifugo && local.centrifugo_replicas > 1
  centrifugo_redis_in_cluster = local.centrifugo_redis_engine && var.centrifugo_redis.address == null
  centrifugo_redis_labels = {
    "app.kubernetes.io/name"    = "centrifugo-redis"
    "app.kubernetes.io/part-of" = "taskpulse"
  }
  centrifugo_redis_address = (
    var.centrifugo_redis.address != null ? var.centrifugo_redis.address :
    "redis://centrifugo-redis.${var.namespace}.svc.cluster.local:6379"
  )
  centrifugo_redis_secret = var.centrifugo_redis.address != null ? var.centrifugo_redis.secret_name : "centrifugo-redis"
  # Centrifugo v6.9.1 internal/configtypes: Engine{type, redis: RedisEngine}, whose Redis
  # part takes `address` as a list of shards; the password comes from the environment.
  # (Through JSON: the two objects differ in shape, which a conditional cannot return.)
  centrifugo_engine = jsondecode(local.centrifugo_redis_engine ? jsonencode({
    type  = "redis"
    redis = { address = [local.centrifugo_redis_address] }
  }) : jsonencode({ type = "memory" }))
}

ephemeral "random_password" "centrifugo_redis" {
  count   = local.centrifugo_redis_in_cluster ? 1 : 0
  length  = 48
  special = false
}

resource "kubernetes_secret_v1" "centrifugo_redis" {
  count = local.centrifugo_redis_in_cluster ? 1 : 0
  metadata {
    name      = "centrifugo-redis"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_redis_labels
  }
  # `password` for Centrifugo (CENTRIFUGO_ENGINE_REDIS_PASSWORD); `auth.conf` for Valkey, read
  # as a config file so that the password is in no command line. Nothing lands in state.
  data_wo = {
    "password"  = ephemeral.random_password.centrifugo_redis[0].result
    "auth.conf" = "requirepass ${ephemeral.random_password.centrifugo_redis[0].result}\n"
  }
  data_wo_revision = var.secrets.revision
}

resource "kubernetes_service_account_v1" "centrifugo_redis" {
  count = local.centrifugo_redis_in_cluster ? 1 : 0
  metadata {
    name      = "centrifugo-redis"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
  }
  automount_service_account_token = false
}

resource "kubernetes_deployment_v1" "centrifugo_redis" {
  # checkov:skip=CKV_K8S_43: The image is pinned by version tag in modules/versions (one place for every pin); a digest differs per registry mirror and architecture.
  count = local.centrifugo_redis_in_cluster ? 1 : 0
  metadata {
    name      = "centrifugo-redis"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_redis_labels
  }
  spec {
    # One server: two would be two separate PUB/SUB worlds. Recreate, so that during a
    # rollout no replica of Centrifugo talks to an old server while another talks to the new.
    replicas = 1
    strategy {
      type = "Recreate"
    }
    selector {
      match_labels = { "app.kubernetes.io/name" = "centrifugo-redis" }
    }
    template {
      metadata {
        labels = local.centrifugo_redis_labels
        annotations = {
          # The password is read at start: a new revision of the Secret restarts the server.
          "taskpulse.dev/secrets-revision" = tostring(var.secrets.revision)
        }
      }
      spec {
        service_account_name            = kubernetes_service_account_v1.centrifugo_redis[0].metadata[0].name
        automount_service_account_token = false
        security_context {
          run_as_non_root = true
          run_as_user     = 999
          run_as_group    = 999
          # The Secret's files belong to this group (mode 0440 below).
          fs_group = 999
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name              = "valkey"
          image             = "docker.io/valkey/valkey:${local.versions.valkey}"
          image_pull_policy = "Always"
          command           = ["valkey-server"]
          # Nothing is saved: what Centrifugo keeps here is rebuilt by its replicas (they
          # resubscribe when they reconnect). maxmemory stays below the limit, so that the
          # server refuses writes rather than being killed; only keys with a TTL (presence)
          # may be evicted.
          args = [
            "/etc/valkey/auth.conf",
            "--port", "6379",
            "--save", "",
            "--appendonly", "no",
            "--maxmemory", "200mb",
            "--maxmemory-policy", "volatile-lru",
          ]
          port {
            name           = "redis"
            container_port = 6379
          }
          liveness_probe {
            tcp_socket {
              port = "redis"
            }
          }
          readiness_probe {
            tcp_socket {
              port = "redis"
            }
          }
          resources {
            requests = { cpu = "50m", memory = "64Mi" }
            limits   = { cpu = "1", memory = "256Mi" }
          }
          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "auth"
            mount_path = "/etc/valkey"
            read_only  = true
          }
          volume_mount {
            name       = "data"
            mount_path = "/data"
          }
        }
        volume {
          name = "auth"
          secret {
            secret_name  = kubernetes_secret_v1.centrifugo_redis[0].metadata[0].name
            default_mode = "0440"
            items {
              key  = "auth.conf"
              path = "auth.conf"
            }
          }
        }
        # The working directory (the image's /data); with nothing saved it stays empty.
        volume {
          name = "data"
          empty_dir {
            size_limit = "16Mi"
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "centrifugo_redis" {
  count = local.centrifugo_redis_in_cluster ? 1 : 0
  metadata {
    name      = "centrifugo-redis"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_redis_labels
  }
  spec {
    type     = "ClusterIP"
    selector = { "app.kubernetes.io/name" = "centrifugo-redis" }
    port {
      name        = "redis"
      port        = 6379
      target_port = "redis"
    }
  }
}

# Only Centrifugo's replicas reach the server (the password guards it too). Centrifugo's own
# egress to it is allowed where the namespace's egress is denied by default (network.tf).
resource "kubernetes_network_policy_v1" "centrifugo_redis" {
  count = local.centrifugo_redis_in_cluster ? 1 : 0
  metadata {
    name      = "centrifugo-redis-ingress"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_redis_labels
  }
  spec {
    pod_selector {
      match_labels = { "app.kubernetes.io/name" = "centrifugo-redis" }
    }
    policy_types = ["Ingress"]
    ingress {
      from {
        pod_selector {
          match_labels = { "app.kubernetes.io/name" = "centrifugo" }
        }
      }
      ports {
        protocol = "TCP"
        port     = "6379"
      }
    }
  }
}
