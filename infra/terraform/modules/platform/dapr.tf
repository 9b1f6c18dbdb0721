# What the functions need from Dapr: the pub/sub component and subscriptions, API/app tokens,
# and one Dapr Shared instance per function (daprd as its own Deployment, so that Kafka is
# consumed and job triggers are delivered while the Knative function is scaled to zero).

locals {
  generated_secrets = var.secrets.source == "generated"
  # kafka.sasl_mechanism as Kafka (and rpk) name it -> as pubsub.kafka reads it; any other
  # value there silently means SASL/PLAIN (components-contrib common/component/kafka/auth.go).
  dapr_sasl_mechanism = {
    "PLAIN"         = "PLAINTEXT"
    "SCRAM-SHA-256" = "SHA-256"
    "SCRAM-SHA-512" = "SHA-512"
  }[var.kafka.sasl_mechanism]
  dapr_image = "ghcr.io/dapr/daprd:${local.versions.dapr}"
  dapr_cp    = "${var.dapr_control_plane_namespace}.svc.cluster.local"
  # The flags the 1.18 sidecar injector gives a sidecar (pkg/injector/patcher), set as flags:
  # daprd ignores the dapr-shared chart's DAPR_SCHEDULER_HOST_ADDRESS and
  # DAPR_CONTROL_PLANE_NAMESPACE variables (it reads DAPR_CONTROLPLANE_NAMESPACE).
  daprd_args = {
    for f in keys(local.dapr_shared) : f => [
      "--mode=kubernetes",
      "--app-id=${f}",
      # The function's Knative service: the activator holds the request while it cold-starts.
      "--app-channel-address=${f}.${var.namespace}.svc.cluster.local",
      "--app-port=80",
      "--app-protocol=http",
      "--dapr-http-port=3500",
      "--dapr-grpc-port=50001",
      "--dapr-internal-grpc-port=50002",
      "--dapr-public-port=3501",
      "--dapr-listen-addresses=0.0.0.0",
      "--metrics-port=9095",
      "--enable-metrics=true",
      "--log-as-json=true",
      "--enable-mtls=true",
      "--control-plane-address=dapr-api.${local.dapr_cp}:443",
      "--sentry-address=dapr-sentry.${local.dapr_cp}:443",
      "--scheduler-host-address=dapr-scheduler-server-a.${local.dapr_cp}:443",
      "--control-plane-namespace=${var.dapr_control_plane_namespace}",
      "--control-plane-trust-domain=${var.dapr_trust_domain}",
      # The Configuration `taskpulse` (charts/taskpulse-dapr, = dapr-components/base); without
      # the flag daprd takes the built-in one, which samples 1 trace in 10,000.
      "--config=taskpulse",
      # Declarative subscriptions only: asking the app for /dapr/subscribe and /dapr/config
      # at start would wake the function from zero.
      "--disable-init-endpoints=subscribe,config",
      "--dapr-graceful-shutdown-seconds=20",
      # Only the Kubernetes secret store of the control plane: daprd needs no API access.
      "--disable-builtin-k8s-secret-store=true",
      # App health checks stay off: they would keep the function warm.
      "--enable-app-health-check=false",
    ]
  }
}

# Pub/sub component and subscriptions (custom resources: local chart, one apply).
resource "helm_release" "dapr_resources" {
  count       = local.c.dapr_resources ? 1 : 0
  name        = "taskpulse-dapr"
  chart       = "${path.module}/charts/taskpulse-dapr"
  namespace   = kubernetes_namespace_v1.taskpulse.metadata[0].name
  atomic      = true
  timeout     = 300
  max_history = 5

  values = [yamlencode({
    pubsubName     = local.pubsub_name
    brokers        = local.kafka_bootstrap
    saslSecretName = var.kafka.sasl_secret_name
    saslMechanism  = local.dapr_sasl_mechanism
    tls            = var.kafka.tls
    functions      = keys(local.all_functions)
    keyVault = {
      enabled  = !local.generated_secrets
      name     = var.secrets.key_vault_name
      tenantId = var.secrets.tenant_id
      clientId = var.secrets.client_id
    }
  })]

  depends_on = [helm_release.dapr, helm_release.kafka_cluster, kubernetes_job_v1.kafka_topics]
}

# --- tokens: generated once, written through write-only arguments (never in state) ---------

ephemeral "random_password" "dapr_api_token" {
  for_each = local.generated_secrets ? local.all_functions : {}
  length   = 48
  special  = false
}

ephemeral "random_password" "app_api_token" {
  for_each = local.generated_secrets ? local.all_functions : {}
  length   = 48
  special  = false
}

# `<function>-dapr-tokens`: key dapr-api-token (function -> daprd, env DAPR_API_TOKEN) and
# app-api-token (daprd -> function, env APP_API_TOKEN). With secrets.source = key-vault the
# Secrets Store CSI driver creates the same Secret from Key Vault instead.
resource "kubernetes_secret_v1" "dapr_tokens" {
  for_each = local.generated_secrets ? local.all_functions : {}

  metadata {
    name      = "${each.key}-dapr-tokens"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = { "app.kubernetes.io/part-of" = "taskpulse", "dapr.io/app-id" = each.key }
  }

  data_wo = {
    "dapr-api-token" = ephemeral.random_password.dapr_api_token[each.key].result
    "app-api-token"  = ephemeral.random_password.app_api_token[each.key].result
  }
  data_wo_revision = var.secrets.revision
}

# --- Dapr trust anchors (public CA certificate) for the Dapr Shared pods -------------------

# Read after the Dapr chart is installed (a data source that depends on a changing resource
# is read during apply), and copied into the functions' namespace.
data "kubernetes_config_map_v1" "dapr_trust_bundle" {
  metadata {
    name      = "dapr-trust-bundle"
    namespace = var.dapr_control_plane_namespace
  }
  depends_on = [helm_release.dapr]
}

resource "kubernetes_config_map_v1" "dapr_trust_anchors" {
  metadata {
    name      = "dapr-trust-anchors"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
  }
  data = {
    "ca.crt" = try(data.kubernetes_config_map_v1.dapr_trust_bundle.data["ca.crt"], "")
  }

  lifecycle {
    # An empty copy would let every daprd start and then fail its mTLS with Sentry.
    precondition {
      condition     = try(data.kubernetes_config_map_v1.dapr_trust_bundle.data["ca.crt"], "") != ""
      error_message = "Dapr's trust bundle (ConfigMap dapr-trust-bundle in var.dapr_control_plane_namespace) has no ca.crt: Dapr is not installed or Sentry has not started yet. Check the dapr-sentry pods, then apply again."
    }
  }
}

# --- Dapr Shared: one daprd Deployment and Service per function -----------------------------

resource "kubernetes_service_account_v1" "dapr_shared" {
  for_each = local.dapr_shared
  metadata {
    name      = "${each.key}-dapr"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    annotations = local.generated_secrets ? {} : {
      "azure.workload.identity/client-id" = var.secrets.client_id
    }
  }
  # The projected token below is the only credential daprd gets (audience: Dapr Sentry).
  automount_service_account_token = false
}

resource "kubernetes_deployment_v1" "dapr_shared" {
  # checkov:skip=CKV_K8S_43: daprd is pinned by version tag to the project's single Dapr pin (modules/versions); a digest differs per architecture.
  for_each = local.dapr_shared

  metadata {
    name      = "${each.key}-dapr"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels = {
      "app.kubernetes.io/name"      = "${each.key}-dapr"
      "app.kubernetes.io/component" = "dapr-shared"
      "app.kubernetes.io/part-of"   = "taskpulse"
    }
  }

  spec {
    replicas = local.local ? 1 : 2
    selector {
      match_labels = { "app.kubernetes.io/name" = "${each.key}-dapr" }
    }

    template {
      metadata {
        labels = merge(
          { "app.kubernetes.io/name" = "${each.key}-dapr", "dapr.io/app-id" = each.key },
          local.generated_secrets ? {} : { "azure.workload.identity/use" = "true" },
        )
        annotations = {
          # Sentry checks the requested app id against this annotation.
          "dapr.io/app-id" = each.key
          # Tokens reach daprd as environment variables, read at start: a new revision of
          # the secrets rolls the pods.
          "taskpulse.dev/secrets-revision" = tostring(var.secrets.revision)
          # Never inject a sidecar into the shared instance itself.
          "dapr.io/enabled" = "false"
        }
      }

      spec {
        service_account_name            = kubernetes_service_account_v1.dapr_shared[each.key].metadata[0].name
        automount_service_account_token = false
        enable_service_links            = false

        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name              = "daprd"
          image             = local.dapr_image
          image_pull_policy = "Always"
          command           = ["/daprd"]
          args              = local.daprd_args[each.key]

          env {
            name = "DAPR_TRUST_ANCHORS"
            value_from {
              config_map_key_ref {
                name = kubernetes_config_map_v1.dapr_trust_anchors.metadata[0].name
                key  = "ca.crt"
              }
            }
          }
          env {
            # pubsub-kafka's consumerGroup (envRef): the contract's <function>-<topic>-v1.
            name  = "TASKPULSE_KAFKA_CONSUMER_GROUP"
            value = "${each.key}-${local.consumer_group_topic[each.key]}-v1"
          }
          env {
            name = "NAMESPACE"
            value_from {
              field_ref {
                field_path = "metadata.namespace"
              }
            }
          }
          env {
            name = "POD_NAME"
            value_from {
              field_ref {
                field_path = "metadata.name"
              }
            }
          }
          dynamic "env" {
            # checkov:skip=CKV_SECRET_6: key names of the token Secret, not token values
            for_each = { DAPR_API_TOKEN = "dapr-api-token", APP_API_TOKEN = "app-api-token" }
            content {
              name = env.key
              value_from {
                secret_key_ref {
                  name = "${each.key}-dapr-tokens"
                  key  = env.value
                }
              }
            }
          }

          port {
            name           = "http"
            container_port = 3500
          }
          port {
            name           = "grpc"
            container_port = 50001
          }
          port {
            name           = "internal-grpc"
            container_port = 50002
          }
          port {
            name           = "public-http"
            container_port = 3501
          }
          port {
            name           = "metrics"
            container_port = 9095
          }

          # As the injector probes a sidecar (pkg/injector/patcher): liveness is the port
          # only. /v1.0/healthz stays unhealthy while a component cannot start (Kafka still
          # coming up on the first apply), and restarting daprd would not help it.
          liveness_probe {
            tcp_socket {
              port = "public-http"
            }
            initial_delay_seconds = 180
            timeout_seconds       = 3
            period_seconds        = 10
            failure_threshold     = 5
          }
          readiness_probe {
            http_get {
              path = "/v1.0/healthz"
              port = "public-http"
            }
            period_seconds = 5
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
            name       = "dapr-identity-token"
            mount_path = "/var/run/secrets/dapr.io/sentrytoken"
            read_only  = true
          }
          dynamic "volume_mount" {
            for_each = local.generated_secrets ? [] : [1]
            content {
              name       = "tokens"
              mount_path = "/mnt/secrets-store"
              read_only  = true
            }
          }
        }

        volume {
          name = "dapr-identity-token"
          projected {
            sources {
              service_account_token {
                audience           = "dapr.io/sentry"
                expiration_seconds = 7200
                path               = "token"
              }
            }
          }
        }
        # With Key Vault, mounting the CSI volume is what makes the driver sync the tokens
        # into the `<function>-dapr-tokens` Secret.
        dynamic "volume" {
          for_each = local.generated_secrets ? [] : [1]
          content {
            name = "tokens"
            csi {
              driver    = "secrets-store.csi.k8s.io"
              read_only = true
              volume_attributes = {
                secretProviderClass = "${each.key}-dapr-tokens"
              }
            }
          }
        }
      }
    }
  }

  depends_on = [helm_release.dapr_resources, kubernetes_secret_v1.dapr_tokens]
}

resource "kubernetes_service_v1" "dapr_shared" {
  for_each = local.dapr_shared
  metadata {
    name      = "${each.key}-dapr"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = { "app.kubernetes.io/part-of" = "taskpulse" }
  }
  spec {
    type     = "ClusterIP"
    selector = { "app.kubernetes.io/name" = "${each.key}-dapr" }
    port {
      name        = "http"
      port        = 3500
      target_port = "http"
    }
    port {
      name        = "grpc"
      port        = 50001
      target_port = "grpc"
    }
    port {
      # Another daprd finds this one at <app-id>-dapr.<namespace>.svc on its own internal
      # gRPC port (components-contrib nameresolution/kubernetes): service invocation.
      name        = "internal-grpc"
      port        = 50002
      target_port = "internal-grpc"
    }
    port {
      name        = "metrics"
      port        = 9095
      target_port = "metrics"
    }
  }
}
