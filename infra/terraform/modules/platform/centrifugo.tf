# The push gateway: Centrifugo, plain manifests so that it meets Pod Security "restricted".
# push-update publishes to `tasks:user#<user_id>` (the `#` limits the channel to that user).

locals {
  # Two listeners (Centrifugo v6.9.1 http_server.internal_port, internal/app run.go
  # runHTTPServers): the client port serves only the connection endpoints (WebSocket), which
  # the edge publishes (edge.tf); the internal port serves the server API, health and
  # Prometheus, and the NetworkPolicy centrifugo-ingress opens it to push-update's pods only.
  centrifugo_client_port   = 8000
  centrifugo_internal_port = 9000
  centrifugo_labels        = { "app.kubernetes.io/name" = "centrifugo", "app.kubernetes.io/part-of" = "taskpulse" }
  centrifugo_jwks          = var.centrifugo_token_verification == "jwks"
  # Connection tokens (Centrifugo v6 client.token, internal/configtypes/types.go Token at
  # v6.9.1). "jwks": the users' access tokens, as create-task takes them: the issuer's keys,
  # its iss and aud, and the same user claim, so that the connection's user is the user of
  # tasks:user#<user>. With a JWKS endpoint Centrifugo never uses the HMAC key
  # (internal/jwtverify/token_verifier_jwt.go, NewTokenVerifierJWT), so the two are
  # exclusive. "hmac": the key comes from the Secret as an environment variable (below), and
  # the backend that mints the tokens puts the user in sub and names no issuer or audience.
  centrifugo_token = local.centrifugo_jwks ? {
    jwks_public_endpoint = var.oidc_jwks_url
    issuer               = var.oidc_issuer
    audience             = var.oidc_audience
    user_id_claim        = var.oidc_user_claim
  } : {}
  centrifugo_config = {
    # memory with one replica; redis, shared by every replica, with more (centrifugo_redis.tf).
    engine = local.centrifugo_engine
    client = {
      allowed_origins = local.centrifugo_allowed_origins
      token           = local.centrifugo_token
      # A valid token without the user claim would connect as the anonymous user "".
      disallow_anonymous_connection_tokens = true
    }
    channel = {
      namespaces = [{ name = "tasks", allow_user_limited_channels = true }]
    }
    http_server = { port = local.centrifugo_client_port, internal_port = tostring(local.centrifugo_internal_port) }
    http_api    = { insecure = false }
    prometheus  = { enabled = true }
    health      = { enabled = true }
  }
}

ephemeral "random_password" "centrifugo" {
  for_each = local.c.centrifugo ? toset(["token-hmac-secret-key", "http-api-key"]) : toset([])
  length   = 48
  special  = false
}

resource "kubernetes_secret_v1" "centrifugo" {
  count = local.c.centrifugo ? 1 : 0
  metadata {
    name      = "centrifugo"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_labels
  }
  # push-update reads http-api-key. token-hmac-secret-key is made either way, so that
  # switching centrifugo_token_verification to "hmac" needs no new Secret; only then does
  # Centrifugo read it, and the backend that mints connection tokens with it.
  data_wo          = { for k, v in ephemeral.random_password.centrifugo : k => v.result }
  data_wo_revision = var.secrets.revision
}

resource "kubernetes_config_map_v1" "centrifugo" {
  count = local.c.centrifugo ? 1 : 0
  metadata {
    name      = "centrifugo"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_labels
  }
  data = { "config.json" = jsonencode(local.centrifugo_config) }
}

resource "kubernetes_service_account_v1" "centrifugo" {
  count = local.c.centrifugo ? 1 : 0
  metadata {
    name      = "centrifugo"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
  }
  automount_service_account_token = false
}

resource "kubernetes_deployment_v1" "centrifugo" {
  # checkov:skip=CKV_K8S_43: The image is pinned by version tag in modules/versions (one place for every pin); a digest differs per registry mirror and architecture.
  # checkov:skip=CKV_K8S_35: Centrifugo reads its HMAC and API keys only from its config file or environment; the config file is a ConfigMap, so the keys come from the Secret as env.
  count = local.c.centrifugo ? 1 : 0
  metadata {
    name      = "centrifugo"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_labels
  }
  spec {
    # More than one only with the Redis engine (local.centrifugo_engine, centrifugo_redis.tf).
    replicas = local.centrifugo_replicas
    selector {
      match_labels = { "app.kubernetes.io/name" = "centrifugo" }
    }
    template {
      metadata {
        labels = local.centrifugo_labels
        annotations = {
          "checksum/config" = sha256(jsonencode(local.centrifugo_config))
          # Its keys are environment variables, read at start: a new revision rolls the pod.
          "taskpulse.dev/secrets-revision" = tostring(var.secrets.revision)
        }
      }
      spec {
        service_account_name            = kubernetes_service_account_v1.centrifugo[0].metadata[0].name
        automount_service_account_token = false
        # Replicas on different nodes where there are enough, so that one node's loss leaves
        # a replica serving (with the PodDisruptionBudget below for drains).
        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "kubernetes.io/hostname"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = { "app.kubernetes.io/name" = "centrifugo" }
          }
        }
        security_context {
          run_as_non_root = true
          run_as_user     = 1000
          run_as_group    = 1000
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name              = "centrifugo"
          image             = "docker.io/centrifugo/centrifugo:${local.versions.centrifugo}"
          image_pull_policy = "Always"
          command           = ["centrifugo"]
          args              = ["--config", "/centrifugo/config.json"]

          # Only with HMAC verification: with a JWKS endpoint Centrifugo would ignore the key.
          dynamic "env" {
            for_each = local.centrifugo_jwks ? [] : ["token-hmac-secret-key"]
            content {
              name = "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY"
              value_from {
                secret_key_ref {
                  name = kubernetes_secret_v1.centrifugo[0].metadata[0].name
                  key  = env.value
                }
              }
            }
          }
          # The shared engine's password (engine.redis.password), never in the ConfigMap.
          dynamic "env" {
            for_each = local.centrifugo_redis_engine ? [local.centrifugo_redis_secret] : []
            content {
              name = "CENTRIFUGO_ENGINE_REDIS_PASSWORD"
              value_from {
                secret_key_ref {
                  name = env.value
                  key  = "password"
                }
              }
            }
          }
          env {
            name = "CENTRIFUGO_HTTP_API_KEY"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.centrifugo[0].metadata[0].name
                key  = "http-api-key"
              }
            }
          }

          port {
            name           = "http"
            container_port = local.centrifugo_client_port
          }
          # The server API, /health and /metrics (http_server.internal_port).
          port {
            name           = "internal"
            container_port = local.centrifugo_internal_port
          }
          liveness_probe {
            http_get {
              path = "/health"
              port = "internal"
            }
          }
          readiness_probe {
            http_get {
              path = "/health"
              port = "internal"
            }
          }
          resources {
            requests = { cpu = "50m", memory = "64Mi" }
            limits   = { cpu = "1", memory = "512Mi" }
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
            name       = "config"
            mount_path = "/centrifugo"
            read_only  = true
          }
        }
        volume {
          name = "config"
          config_map {
            name = kubernetes_config_map_v1.centrifugo[0].metadata[0].name
          }
        }
      }
    }
  }

  # Centrifugo stops at start when its Redis does not answer: the server comes first.
  depends_on = [kubernetes_deployment_v1.centrifugo_redis, kubernetes_service_v1.centrifugo_redis]
}

# Drains and other voluntary evictions keep one replica serving (only with more than one:
# with a single replica minAvailable 1 would block every drain).
resource "kubernetes_pod_disruption_budget_v1" "centrifugo" {
  count = local.c.centrifugo && local.centrifugo_replicas > 1 ? 1 : 0
  metadata {
    name      = "centrifugo"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_labels
  }
  spec {
    min_available = 1
    selector {
      match_labels = { "app.kubernetes.io/name" = "centrifugo" }
    }
  }
}

resource "kubernetes_service_v1" "centrifugo" {
  count = local.c.centrifugo ? 1 : 0
  metadata {
    name      = "centrifugo"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.centrifugo_labels
  }
  spec {
    type     = "ClusterIP"
    selector = { "app.kubernetes.io/name" = "centrifugo" }
    # The client endpoint (WebSocket at /connection/websocket) for in-cluster clients.
    port {
      name        = "http"
      port        = local.centrifugo_client_port
      target_port = "http"
    }
    # The same endpoint for the edge: a Knative DomainMapping always sends its traffic to
    # port 80 of the Service it names (knative/serving pkg/reconciler/domainmapping/resources
    # ingress.go, ServicePort 80), and Kourier reads a numeric targetPort for the endpoints.
    port {
      name        = "edge"
      port        = 80
      target_port = tostring(local.centrifugo_client_port)
    }
    # The server API (push-update), health and metrics.
    port {
      name        = "internal"
      port        = local.centrifugo_internal_port
      target_port = "internal"
    }
  }
}
