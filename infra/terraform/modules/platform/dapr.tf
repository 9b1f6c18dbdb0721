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
  kafka_secure = var.kafka.mode == "strimzi" || (var.kafka.mode == "external" && var.kafka.sasl_secret_name != "")
  dapr_image   = "ghcr.io/dapr/daprd:${local.versions.dapr}"
  dapr_cp      = "${var.dapr_control_plane_namespace}.svc.cluster.local"

  # ONE definition of each Dapr Shared instance: the Deployment and Service of
  # knative/base/<function>/dapr-shared.yaml, which `python -m devstack.manifests generate`
  # also writes into generated/dapr-shared.yaml for this module (docs/decisions/0030).
  # Below, only what this module's variables decide is set differently: the flags that name
  # a namespace or trust domain, the Kafka login's Secret, the replica count (there are no
  # ScaledObjects here), Key Vault, and the annotation that rolls the pods on a rotation.
  dapr_shared_docs = yamldecode(file("${path.module}/generated/dapr-shared.yaml"))
  daprd = {
    for f in keys(local.dapr_shared) :
    f => local.dapr_shared_docs[f].deployment.spec.template.spec.containers[0]
  }
  daprd_flags = {
    for f in keys(local.dapr_shared) : f => {
      # The function's Knative service: the activator holds the request while it cold-starts.
      "--app-channel-address"        = "${f}.${var.namespace}.svc.cluster.local"
      "--control-plane-address"      = "dapr-api.${local.dapr_cp}:443"
      "--sentry-address"             = "dapr-sentry.${local.dapr_cp}:443"
      "--scheduler-host-address"     = "dapr-scheduler-server-a.${local.dapr_cp}:443"
      "--control-plane-namespace"    = var.dapr_control_plane_namespace
      "--control-plane-trust-domain" = var.dapr_trust_domain
    }
  }
  daprd_args = {
    for f in keys(local.dapr_shared) : f => [
      for a in local.daprd[f].args :
      contains(keys(local.daprd_flags[f]), split("=", a)[0]) ? "${split("=", a)[0]}=${local.daprd_flags[f][split("=", a)[0]]}" : a
    ]
  }
  # The daprd's Kafka login (envRef of pubsub-kafka): Strimzi, the function's own KafkaUser
  # (Secret <function>-kafka, kafka.tf); an external Kafka, the Secret kafka.sasl_secret_name
  # (username, password; ca.crt optional: a public CA needs none); Redpanda, none (plaintext).
  kafka_login_env = ["TASKPULSE_KAFKA_USERNAME", "TASKPULSE_KAFKA_PASSWORD", "TASKPULSE_KAFKA_CA_CERT"]
  daprd_env = {
    for f in keys(local.dapr_shared) : f => [
      for e in local.daprd[f].env : e
      if !(contains(local.kafka_login_env, e.name) && var.kafka.mode == "redpanda")
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
    pubsubName = local.pubsub_name
    brokers    = local.kafka_bootstrap
    # SASL over TLS with each daprd's own login: Strimzi always, an external Kafka when it
    # has credentials; plaintext without authentication otherwise (Redpanda in the cluster).
    secure        = local.kafka_secure
    saslMechanism = var.kafka.mode == "strimzi" ? "SHA-512" : local.dapr_sasl_mechanism
    functions     = keys(local.all_functions)
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
  # checkov:skip=CKV_K8S_10: requests come from generated/dapr-shared.yaml (yamldecode, which checkov does not evaluate); tests/local.tftest.hcl checks the plan has them.
  # checkov:skip=CKV_K8S_11: limits come from generated/dapr-shared.yaml; tests/local.tftest.hcl checks the plan has them.
  # checkov:skip=CKV_K8S_12: limits come from generated/dapr-shared.yaml; tests/local.tftest.hcl checks the plan has them.
  # checkov:skip=CKV_K8S_13: requests come from generated/dapr-shared.yaml; tests/local.tftest.hcl checks the plan has them.
  # checkov:skip=CKV_K8S_22: readOnlyRootFilesystem comes from generated/dapr-shared.yaml; tests/local.tftest.hcl checks the plan has it.
  # checkov:skip=CKV_K8S_28: capabilities (drop ALL) come from generated/dapr-shared.yaml; tests/local.tftest.hcl checks the plan has them.
  # checkov:skip=CKV_K8S_37: capabilities (drop ALL) come from generated/dapr-shared.yaml; tests/local.tftest.hcl checks the plan has them.
  # checkov:skip=CKV_K8S_15: the pull policy of the generated Deployment (the default, IfNotPresent for a version tag), as knative/ applies it.
  # checkov:skip=CKV_K8S_35: daprd reads its API/app tokens and the Kafka login (pubsub-kafka's envRef) only from its environment.
  for_each = local.dapr_shared

  metadata {
    name      = local.dapr_shared_docs[each.key].deployment.metadata.name
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.dapr_shared_docs[each.key].deployment.metadata.labels
  }

  spec {
    # knative/ leaves the count to its ScaledObject; this module has none.
    replicas = local.local ? 1 : 2
    selector {
      match_labels = local.dapr_shared_docs[each.key].deployment.spec.selector.matchLabels
    }

    template {
      metadata {
        labels = merge(
          local.dapr_shared_docs[each.key].deployment.spec.template.metadata.labels,
          local.generated_secrets ? {} : { "azure.workload.identity/use" = "true" },
        )
        annotations = merge(
          local.dapr_shared_docs[each.key].deployment.spec.template.metadata.annotations,
          {
            # Tokens reach daprd as environment variables, read at start: a new revision of
            # the secrets rolls the pods.
            "taskpulse.dev/secrets-revision" = tostring(var.secrets.revision)
          },
        )
      }

      spec {
        service_account_name            = kubernetes_service_account_v1.dapr_shared[each.key].metadata[0].name
        automount_service_account_token = false
        enable_service_links            = local.dapr_shared_docs[each.key].deployment.spec.template.spec.enableServiceLinks

        security_context {
          run_as_non_root = local.dapr_shared_docs[each.key].deployment.spec.template.spec.securityContext.runAsNonRoot
          seccomp_profile {
            type = local.dapr_shared_docs[each.key].deployment.spec.template.spec.securityContext.seccompProfile.type
          }
        }

        container {
          name    = local.daprd[each.key].name
          image   = local.dapr_image
          command = local.daprd[each.key].command
          args    = local.daprd_args[each.key]

          dynamic "env" {
            for_each = local.daprd_env[each.key]
            content {
              name  = env.value.name
              value = try(env.value.value, null)
              dynamic "value_from" {
                for_each = can(env.value.valueFrom) ? [env.value.valueFrom] : []
                content {
                  dynamic "field_ref" {
                    for_each = can(value_from.value.fieldRef) ? [value_from.value.fieldRef] : []
                    content {
                      field_path = field_ref.value.fieldPath
                    }
                  }
                  dynamic "config_map_key_ref" {
                    for_each = can(value_from.value.configMapKeyRef) ? [value_from.value.configMapKeyRef] : []
                    content {
                      name = config_map_key_ref.value.name
                      key  = config_map_key_ref.value.key
                    }
                  }
                  dynamic "secret_key_ref" {
                    # checkov:skip=CKV_SECRET_6: names of Secrets and keys, not values
                    for_each = can(value_from.value.secretKeyRef) ? [value_from.value.secretKeyRef] : []
                    content {
                      # An external Kafka's login is its one Secret kafka.sasl_secret_name.
                      name = (
                        contains(local.kafka_login_env, env.value.name) && var.kafka.mode == "external"
                        ? var.kafka.sasl_secret_name : secret_key_ref.value.name
                      )
                      key      = secret_key_ref.value.key
                      optional = env.value.name == "TASKPULSE_KAFKA_CA_CERT" && var.kafka.mode == "external" ? true : null
                    }
                  }
                }
              }
            }
          }

          dynamic "port" {
            for_each = local.daprd[each.key].ports
            content {
              name           = port.value.name
              container_port = port.value.containerPort
            }
          }

          liveness_probe {
            tcp_socket {
              port = local.daprd[each.key].livenessProbe.tcpSocket.port
            }
            initial_delay_seconds = local.daprd[each.key].livenessProbe.initialDelaySeconds
            timeout_seconds       = local.daprd[each.key].livenessProbe.timeoutSeconds
            period_seconds        = local.daprd[each.key].livenessProbe.periodSeconds
            failure_threshold     = local.daprd[each.key].livenessProbe.failureThreshold
          }
          readiness_probe {
            http_get {
              path = local.daprd[each.key].readinessProbe.httpGet.path
              port = local.daprd[each.key].readinessProbe.httpGet.port
            }
            period_seconds = local.daprd[each.key].readinessProbe.periodSeconds
          }

          resources {
            requests = local.daprd[each.key].resources.requests
            limits   = local.daprd[each.key].resources.limits
          }

          security_context {
            allow_privilege_escalation = local.daprd[each.key].securityContext.allowPrivilegeEscalation
            read_only_root_filesystem  = local.daprd[each.key].securityContext.readOnlyRootFilesystem
            run_as_non_root            = local.daprd[each.key].securityContext.runAsNonRoot
            run_as_user                = local.daprd[each.key].securityContext.runAsUser
            run_as_group               = local.daprd[each.key].securityContext.runAsGroup
            capabilities {
              drop = local.daprd[each.key].securityContext.capabilities.drop
            }
            seccomp_profile {
              type = local.daprd[each.key].securityContext.seccompProfile.type
            }
          }

          dynamic "volume_mount" {
            for_each = local.daprd[each.key].volumeMounts
            content {
              name       = volume_mount.value.name
              mount_path = volume_mount.value.mountPath
              read_only  = volume_mount.value.readOnly
            }
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

        # The Sentry token (the only volume of the generated Deployment).
        dynamic "volume" {
          for_each = local.dapr_shared_docs[each.key].deployment.spec.template.spec.volumes
          content {
            name = volume.value.name
            projected {
              dynamic "sources" {
                for_each = volume.value.projected.sources
                content {
                  service_account_token {
                    audience           = sources.value.serviceAccountToken.audience
                    expiration_seconds = sources.value.serviceAccountToken.expirationSeconds
                    path               = sources.value.serviceAccountToken.path
                  }
                }
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

  depends_on = [helm_release.dapr_resources, kubernetes_secret_v1.dapr_tokens, kubernetes_secret_v1.kafka_login]
}

resource "kubernetes_service_v1" "dapr_shared" {
  for_each = local.dapr_shared
  metadata {
    name      = local.dapr_shared_docs[each.key].service.metadata.name
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = local.dapr_shared_docs[each.key].service.metadata.labels
  }
  spec {
    type     = "ClusterIP"
    selector = local.dapr_shared_docs[each.key].service.spec.selector
    # http, grpc and internal-grpc: another daprd finds this one at
    # <app-id>-dapr.<namespace>.svc on its internal gRPC port (service invocation).
    dynamic "port" {
      for_each = local.dapr_shared_docs[each.key].service.spec.ports
      content {
        name        = port.value.name
        port        = port.value.port
        target_port = port.value.targetPort
      }
    }
  }
}
