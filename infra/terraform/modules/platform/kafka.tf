# Kafka for Dapr pub/sub: Strimzi or Redpanda in the cluster, or an external service.

locals {
  kafka_replication = min(var.kafka.replicas, 3)

  # --- identities (Strimzi): one KafkaUser per principal, ACLs from contract.tf kafka_access
  kafka_identities = local.c.kafka && var.kafka.mode == "strimzi"
  kafka_acls = merge(
    {
      for p, a in local.kafka_access : p => concat(
        [for t in a.writes : { resource = { type = "topic", name = t, patternType = "literal" }, operations = ["Write", "Describe"] }],
        [for t in a.reads : { resource = { type = "topic", name = t, patternType = "literal" }, operations = ["Read", "Describe"] }],
        # Every group of the function, so a later -v2 group needs no new grant.
        a.group_prefix == null ? [] : [{ resource = { type = "group", name = a.group_prefix, patternType = "prefix" }, operations = ["Read"] }],
      )
    },
    {
      # KEDA's Kafka scaler reads committed offsets and the log end: Describe on the topics
      # the functions read and on their groups, nothing it could consume or write with.
      keda = concat(
        [for t in sort(distinct(flatten([for a in values(local.kafka_access) : a.reads]))) : { resource = { type = "topic", name = t, patternType = "literal" }, operations = ["Describe"] }],
        [for a in values(local.kafka_access) : { resource = { type = "group", name = a.group_prefix, patternType = "prefix" }, operations = ["Describe"] } if a.group_prefix != null],
      )
    },
  )
  kafka_principals = local.kafka_identities ? local.kafka_acls : {}
  # KEDA's operator: the chart's in namespace keda, or the AKS add-on's in kube-system; both
  # label its pods app=keda-operator (kedacore/charts keda/templates/manager/deployment.yaml).
  keda_operator = { namespace = local.c.keda ? "keda" : "kube-system", podLabels = { app = "keda-operator" } }

  topic_job_needed = local.c.kafka && var.kafka.create_topics && var.kafka.mode != "strimzi"
  topic_script = join("\n", concat(["set -eu"], [
    for name, t in local.topics :
    "if rpk topic describe ${name} >/dev/null 2>&1; then rpk topic alter-config ${name} --set retention.ms=${t.retention_ms} --set max.message.bytes=${t.max_message_bytes}; else rpk topic create ${name} -p ${t.partitions} -r ${local.kafka_replication} -c retention.ms=${t.retention_ms} -c max.message.bytes=${t.max_message_bytes}; fi"
  ]))
}

resource "helm_release" "strimzi" {
  count            = local.c.kafka && var.kafka.mode == "strimzi" ? 1 : 0
  name             = "strimzi"
  repository       = "oci://quay.io/strimzi-helm"
  chart            = "strimzi-kafka-operator"
  version          = local.versions.strimzi
  namespace        = local.kafka_namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
  max_history      = 5
}

# Kafka, its node pool and the contract's topics are custom resources: rendered by a local
# chart so that one apply installs the operator and then the cluster.
resource "helm_release" "kafka_cluster" {
  count       = local.c.kafka && var.kafka.mode == "strimzi" ? 1 : 0
  name        = "taskpulse-kafka"
  chart       = "${path.module}/charts/strimzi-kafka"
  namespace   = local.kafka_namespace
  atomic      = true
  timeout     = 900
  max_history = 5

  values = [yamlencode({
    clusterName  = "taskpulse"
    replicas     = var.kafka.replicas
    replication  = local.kafka_replication
    ephemeral    = local.local
    storageSize  = var.kafka.storage_size
    storageClass = var.storage_class == null ? "" : var.storage_class
    topics       = local.topics
    # Only the Dapr Shared daprd pods (label dapr.io/app-id) of the functions' namespace.
    clients = { namespace = var.namespace, podLabel = "dapr.io/app-id" }
    keda    = local.keda_operator
    # Trusted backends that produce commands as taskpulse-backend.
    backendClients = [for c in var.kafka.backend_clients : { namespace = c.namespace, podLabels = c.pod_labels }]
    users          = { for p, acls in local.kafka_principals : p => { passwordSecret = "${p}-kafka-password", acls = acls } }
    # The Job that waits for the cluster CA (see below): any image that exits at once.
    waitImage = local.dapr_image
    # Consumer lag for the alerts; scraped when this module installs Prometheus.
    exporter = { enabled = true, podMonitor = local.c.monitoring }
  })]

  depends_on = [helm_release.strimzi, helm_release.monitoring, kubernetes_secret_v1.kafka_password]
}

# --- Kafka identities: a password per principal, given to Strimzi and to its clients ------

# In state (sensitive): the same value must reach two Secrets in two namespaces, run after
# run. Taint one (tofu apply -replace='random_password.kafka["<principal>"]') to rotate it.
resource "random_password" "kafka" {
  for_each = local.kafka_principals
  length   = 40
  special  = false
}

# What the KafkaUser reads its password from (authentication.password.valueFrom): a Secret
# of the Kafka's namespace. Strimzi's User Operator then writes its own Secret <principal>.
resource "kubernetes_secret_v1" "kafka_password" {
  for_each = local.kafka_principals
  metadata {
    name      = "${each.key}-kafka-password"
    namespace = local.kafka_namespace
    labels    = { "app.kubernetes.io/part-of" = "taskpulse" }
  }
  data = { password = random_password.kafka[each.key].result }

  depends_on = [helm_release.strimzi] # creates the namespace
}

# The CA that signed the brokers' certificate, read once the chart's post-install hook has
# seen it (a data source that depends on a changing resource is read during apply).
data "kubernetes_secret_v1" "kafka_cluster_ca" {
  count = local.kafka_identities ? 1 : 0
  metadata {
    name      = "taskpulse-cluster-ca-cert"
    namespace = local.kafka_namespace
  }
  depends_on = [helm_release.kafka_cluster]
}

# `<principal>-kafka` in the functions' namespace: username, password, ca.crt (PEM). The
# <function>-dapr Deployment reads them as TASKPULSE_KAFKA_USERNAME/PASSWORD/CA_CERT
# (envRefs of pubsub-kafka); keda-kafka is read by the TriggerAuthentications;
# taskpulse-backend-kafka is for a trusted backend that sends commands to task-events.
resource "kubernetes_secret_v1" "kafka_login" {
  for_each = local.kafka_principals
  metadata {
    name      = "${each.key}-kafka"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = { "app.kubernetes.io/part-of" = "taskpulse" }
  }
  data = {
    username = each.key
    password = random_password.kafka[each.key].result
    "ca.crt" = try(data.kubernetes_secret_v1.kafka_cluster_ca[0].data["ca.crt"], "")
  }

  lifecycle {
    precondition {
      condition     = try(data.kubernetes_secret_v1.kafka_cluster_ca[0].data["ca.crt"], "") != ""
      error_message = "Strimzi's cluster CA (Secret taskpulse-cluster-ca-cert in namespace kafka) has no ca.crt: the Kafka is not reconciled yet. Check the strimzi-cluster-operator logs, then apply again."
    }
  }
}

resource "helm_release" "redpanda" {
  count            = local.c.kafka && var.kafka.mode == "redpanda" ? 1 : 0
  name             = "redpanda"
  repository       = "https://charts.redpanda.com/"
  chart            = "redpanda"
  version          = local.versions.redpanda_chart
  namespace        = local.kafka_namespace
  create_namespace = true
  atomic           = true
  timeout          = 900
  max_history      = 5

  values = [
    yamlencode({
      image       = { tag = local.versions.redpanda }
      statefulset = { replicas = var.kafka.replicas }
      tls         = { enabled = false }
      external    = { enabled = false }
      console     = { enabled = false }
      storage = {
        persistentVolume = merge(
          { enabled = !local.local, size = var.kafka.storage_size },
          var.storage_class == null ? {} : { storageClass = var.storage_class },
        )
      }
    }),
    # Laptop clusters: one core and 2 GiB for the broker.
    local.local ? yamlencode({ resources = { cpu = { cores = 1 }, memory = { container = { max = "2Gi" } } } }) : "{}",
  ]
}

# Topics for Redpanda and external Kafka: a one-off job with rpk (idempotent: creates the
# missing topics and re-applies retention). Its name changes with the topic list, so a change
# of the contract runs it again.
resource "kubernetes_job_v1" "kafka_topics" {
  count = local.topic_job_needed ? 1 : 0

  metadata {
    name      = "kafka-topics-${substr(sha1(local.topic_script), 0, 8)}"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
    labels    = { "app.kubernetes.io/name" = "kafka-topics", "app.kubernetes.io/part-of" = "taskpulse" }
  }

  spec {
    backoff_limit = 6
    template {
      metadata {
        labels = { "app.kubernetes.io/name" = "kafka-topics" }
      }
      spec {
        restart_policy                  = "OnFailure"
        automount_service_account_token = false
        service_account_name            = kubernetes_service_account_v1.kafka_topics[0].metadata[0].name

        security_context {
          run_as_non_root = true
          run_as_user     = 101
          run_as_group    = 101
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name              = "rpk"
          image             = "docker.redpanda.com/redpandadata/redpanda:${local.versions.redpanda}"
          image_pull_policy = "Always"
          command           = ["/bin/sh", "-c", local.topic_script]

          env {
            name  = "HOME"
            value = "/tmp"
          }
          env {
            name  = "RPK_BROKERS"
            value = local.kafka_bootstrap
          }
          env {
            name  = "RPK_TLS_ENABLED"
            value = tostring(var.kafka.tls)
          }
          dynamic "env" {
            for_each = var.kafka.sasl_secret_name == "" ? [] : [1]
            content {
              name  = "RPK_SASL_MECHANISM"
              value = var.kafka.sasl_mechanism
            }
          }
          dynamic "env" {
            for_each = var.kafka.sasl_secret_name == "" ? {} : { RPK_USER = "username", RPK_PASS = "password" }
            content {
              name = env.key
              value_from {
                secret_key_ref {
                  name = var.kafka.sasl_secret_name
                  key  = env.value
                }
              }
            }
          }

          resources {
            requests = { cpu = "50m", memory = "64Mi" }
            limits   = { cpu = "500m", memory = "256Mi" }
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
            name       = "tmp"
            mount_path = "/tmp"
          }
        }

        volume {
          name = "tmp"
          empty_dir {}
        }
      }
    }
  }

  wait_for_completion = true
  timeouts {
    create = "15m"
    update = "15m"
  }

  depends_on = [helm_release.redpanda]
}

resource "kubernetes_service_account_v1" "kafka_topics" {
  count = local.topic_job_needed ? 1 : 0
  metadata {
    name      = "kafka-topics"
    namespace = kubernetes_namespace_v1.taskpulse.metadata[0].name
  }
  automount_service_account_token = false
}
