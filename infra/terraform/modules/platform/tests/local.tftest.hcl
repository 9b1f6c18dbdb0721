# What modules/platform installs on a laptop cluster (environment = "local"), planned against
# mocked providers: no cluster is needed.

mock_provider "helm" {}
mock_provider "kubernetes" {}
mock_provider "random" {}

variables {
  environment = "local"
  # ORY Hydra of `task up` on the host: tokens name it by 127.0.0.1, pods reach its keys
  # through the host's address as minikube publishes it.
  oidc_issuer   = "http://127.0.0.1:4444/"
  oidc_jwks_url = "http://host.minikube.internal:4444/.well-known/jwks.json"
}

run "local_installs_every_component" {
  command = plan

  assert {
    condition = alltrue([
      length(helm_release.cert_manager) == 1,
      length(helm_release.monitoring) == 1,
      length(helm_release.taskpulse_monitoring) == 1,
      length(helm_release.keda) == 1,
      length(helm_release.dapr) == 1,
      length(helm_release.knative_operator) == 1,
      length(helm_release.knative_serving) == 1,
      length(helm_release.strimzi) == 1,
      length(helm_release.kafka_cluster) == 1,
      length(helm_release.redpanda) == 0,
      length(kubernetes_job_v1.kafka_topics) == 0,
      length(kubernetes_deployment_v1.centrifugo) == 1,
    ])
    error_message = "local should install cert-manager, monitoring, KEDA, Dapr, Knative, Strimzi and Centrifugo."
  }

  assert {
    condition     = helm_release.dapr[0].version == "1.18.3" && helm_release.dapr[0].chart == "dapr"
    error_message = "Dapr must be the project's single pin, chart 1.18.3."
  }

  assert {
    condition     = yamldecode(helm_release.dapr[0].values[0]).dapr_scheduler.cluster.inMemoryStorage == true
    error_message = "The Dapr scheduler must keep its data in memory on a laptop cluster."
  }

  assert {
    condition     = yamldecode(helm_release.dapr[0].values[0]).global.ha.enabled == false
    error_message = "No Dapr HA on a laptop cluster."
  }

  assert {
    condition     = helm_release.keda[0].version == "2.20.2" && helm_release.knative_operator[0].version == "v1.23.0"
    error_message = "KEDA and the Knative Operator must come from the pins."
  }

  assert {
    condition     = helm_release.cert_manager[0].repository == "oci://quay.io/jetstack/charts" && yamldecode(helm_release.cert_manager[0].values[0]).crds.enabled
    error_message = "cert-manager comes from its OCI chart with its CRDs."
  }

  assert {
    condition     = endswith(helm_release.knative_serving[0].chart, "charts/knative-serving")
    error_message = "KnativeServing is rendered by the local chart (one apply)."
  }

  assert {
    condition     = contains(yamldecode(helm_release.knative_serving[0].values[0]).skipTagResolving, "localhost:5001")
    error_message = "On a laptop Knative must not resolve localhost:5001 tags (its controller cannot reach that registry)."
  }

  assert {
    condition = (
      kubernetes_namespace_v1.taskpulse.metadata[0].name == "taskpulse" &&
      kubernetes_namespace_v1.taskpulse.metadata[0].labels["pod-security.kubernetes.io/enforce"] == "restricted"
    )
    error_message = "The functions' namespace must enforce Pod Security restricted."
  }
}

run "local_kafka_topics_follow_the_contract" {
  command = plan

  assert {
    condition = (
      output.topics["task-events"].partitions == 3 && output.topics["task-events"].retention_ms == 604800000 &&
      output.topics["reminders"].partitions == 2 && output.topics["reminders"].retention_ms == 86400000 &&
      output.topics["task-updates"].partitions == 2 && output.topics["task-updates"].retention_ms == 3600000
    )
    error_message = "Topic partitions/retention differ from the contract (3/7d, 2/24h, 2/1h)."
  }

  assert {
    condition = alltrue([
      for t in ["task-events-dlq", "reminders-dlq", "task-updates-dlq"] :
      output.topics[t].partitions == 1 && output.topics[t].retention_ms == 1209600000
    ])
    error_message = "Dead-letter topics must have 1 partition and 14 days retention."
  }

  assert {
    condition     = length(yamldecode(helm_release.kafka_cluster[0].values[0]).topics) == 6
    error_message = "The Strimzi chart must get all six topics."
  }

  assert {
    condition = yamldecode(helm_release.kafka_cluster[0].values[0]).clients == {
      namespace = "taskpulse", podLabel = "dapr.io/app-id"
    }
    error_message = "Only the daprd pods of the functions' namespace may reach the brokers."
  }

  assert {
    condition     = output.kafka_bootstrap_servers == "taskpulse-kafka-bootstrap.kafka.svc.cluster.local:9093"
    error_message = "Dapr must reach the Strimzi bootstrap service on its TLS + SCRAM listener."
  }

  assert {
    condition = yamldecode(helm_release.kafka_cluster[0].values[0]).users["send-reminder"].acls == [
      { resource = { type = "topic", name = "task-updates", patternType = "literal" }, operations = ["Write", "Describe"] },
      { resource = { type = "topic", name = "reminders-dlq", patternType = "literal" }, operations = ["Write", "Describe"] },
      { resource = { type = "topic", name = "task-updates-dlq", patternType = "literal" }, operations = ["Write", "Describe"] },
      { resource = { type = "topic", name = "reminders", patternType = "literal" }, operations = ["Read", "Describe"] },
      { resource = { type = "topic", name = "task-updates", patternType = "literal" }, operations = ["Read", "Describe"] },
      { resource = { type = "group", name = "send-reminder-", patternType = "prefix" }, operations = ["Read"] },
    ]
    error_message = "send-reminder's KafkaUser may write its events and dead letters, read its topics and join its groups, nothing more."
  }

  assert {
    condition = (
      yamldecode(helm_release.kafka_cluster[0].values[0]).users["taskpulse-backend"].acls == [
        { resource = { type = "topic", name = "task-events", patternType = "literal" }, operations = ["Write", "Describe"] },
      ] &&
      alltrue([for a in yamldecode(helm_release.kafka_cluster[0].values[0]).users["keda"].acls : a.operations == ["Describe"]]) &&
      length(yamldecode(helm_release.kafka_cluster[0].values[0]).users) == 6
    )
    error_message = "A KafkaUser per function, taskpulse-backend writes task-events only, keda only describes."
  }

  assert {
    condition = (
      toset(keys(kubernetes_secret_v1.kafka_login)) == toset(["create-task", "compute-next-occurrence", "send-reminder", "push-update", "taskpulse-backend", "keda"]) &&
      alltrue([for p, s in kubernetes_secret_v1.kafka_login : s.metadata[0].name == "${p}-kafka" && s.metadata[0].namespace == "taskpulse"]) &&
      alltrue([for p, s in kubernetes_secret_v1.kafka_password : s.metadata[0].namespace == "kafka"]) &&
      alltrue([for p, u in yamldecode(helm_release.kafka_cluster[0].values[0]).users : u.passwordSecret == kubernetes_secret_v1.kafka_password[p].metadata[0].name])
    )
    error_message = "Each principal's login Secret <principal>-kafka in the functions' namespace, its password Secret beside its KafkaUser."
  }

  assert {
    condition     = yamldecode(helm_release.kafka_cluster[0].values[0]).keda == { namespace = "keda", podLabels = { app = "keda-operator" } }
    error_message = "KEDA's operator (chart in namespace keda) may reach the brokers for the lag."
  }
}

run "local_dapr_shared_per_function" {
  command = plan

  assert {
    condition     = length(kubernetes_deployment_v1.dapr_shared) == 4 && length(kubernetes_service_v1.dapr_shared) == 4
    error_message = "One Dapr Shared deployment and service per function."
  }

  assert {
    condition = alltrue([
      for f, d in kubernetes_deployment_v1.dapr_shared :
      contains(d.spec[0].template[0].spec[0].container[0].args, "--scheduler-host-address=dapr-scheduler-server-a.dapr-system.svc.cluster.local:443") &&
      contains(d.spec[0].template[0].spec[0].container[0].args, "--enable-app-health-check=false") &&
      contains(d.spec[0].template[0].spec[0].container[0].args, "--app-id=${f}") &&
      contains(d.spec[0].template[0].spec[0].container[0].args, "--control-plane-namespace=dapr-system") &&
      contains(d.spec[0].template[0].spec[0].container[0].args, "--disable-init-endpoints=subscribe,config") &&
      contains(d.spec[0].template[0].spec[0].container[0].args, "--config=taskpulse") &&
      d.spec[0].template[0].spec[0].container[0].image == "ghcr.io/dapr/daprd:1.18.3"
    ])
    error_message = "daprd must get the scheduler flag, no app health checks, its app id, the taskpulse Configuration and the pinned image."
  }

  assert {
    condition = alltrue([
      for s in kubernetes_service_v1.dapr_shared :
      contains([for p in s.spec[0].port : p.port], 50002)
    ])
    error_message = "Each <function>-dapr Service must expose daprd's internal gRPC port (daprd-to-daprd)."
  }

  assert {
    condition = alltrue([
      for d in kubernetes_deployment_v1.dapr_shared :
      d.spec[0].template[0].metadata[0].annotations["taskpulse.dev/secrets-revision"] == "1"
    ]) && kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].metadata[0].annotations["taskpulse.dev/secrets-revision"] == "1"
    error_message = "daprd and Centrifugo pods must roll when the secrets' revision changes."
  }

  assert {
    condition = alltrue([
      for d in kubernetes_deployment_v1.dapr_shared :
      length(d.spec[0].template[0].spec[0].container[0].liveness_probe[0].tcp_socket) == 1 &&
      length(d.spec[0].template[0].spec[0].container[0].liveness_probe[0].http_get) == 0
    ])
    error_message = "daprd's liveness must be its port, as the injector does (healthz fails while Kafka is not up)."
  }

  assert {
    condition = alltrue([
      for d in kubernetes_deployment_v1.dapr_shared :
      d.spec[0].template[0].metadata[0].annotations["dapr.io/enabled"] == "false" &&
      d.spec[0].template[0].spec[0].automount_service_account_token == false &&
      d.spec[0].template[0].spec[0].security_context[0].run_as_non_root == true &&
      d.spec[0].template[0].spec[0].container[0].security_context[0].allow_privilege_escalation == false &&
      d.spec[0].template[0].spec[0].container[0].security_context[0].capabilities[0].drop == tolist(["ALL"]) &&
      d.spec[0].template[0].spec[0].container[0].security_context[0].read_only_root_filesystem == true &&
      length(d.spec[0].template[0].spec[0].container[0].resources[0].requests) == 2 &&
      length(d.spec[0].template[0].spec[0].container[0].resources[0].limits) == 2
    ])
    error_message = "Dapr Shared pods must meet Pod Security restricted, read only their image, have CPU and memory requests and limits, and get no sidecar."
  }

  assert {
    condition = (
      [for e in kubernetes_deployment_v1.dapr_shared["send-reminder"].spec[0].template[0].spec[0].container[0].env : e.value if e.name == "TASKPULSE_KAFKA_CONSUMER_GROUP"][0] == "send-reminder-reminders-v1" &&
      [for e in kubernetes_deployment_v1.dapr_shared["push-update"].spec[0].template[0].spec[0].container[0].env : e.value if e.name == "TASKPULSE_KAFKA_CONSUMER_GROUP"][0] == "push-update-task-updates-v1"
    )
    error_message = "Each daprd joins the contract's consumer group <function>-<topic>-v1."
  }

  # One source (docs/decisions/0030): each Deployment is the generated one of knative/base.
  assert {
    condition = alltrue([
      for f, d in kubernetes_deployment_v1.dapr_shared :
      [for e in d.spec[0].template[0].spec[0].container[0].env : e.name] == [for e in local.daprd[f].env : e.name] &&
      d.spec[0].template[0].spec[0].container[0].resources[0].requests == tomap(local.daprd[f].resources.requests) &&
      d.spec[0].template[0].spec[0].container[0].resources[0].limits == tomap(local.daprd[f].resources.limits) &&
      length(d.spec[0].template[0].spec[0].container[0].args) == length(local.daprd[f].args) &&
      length(setsubtract(d.spec[0].template[0].spec[0].container[0].args, local.daprd[f].args)) == 0
    ])
    error_message = "The Dapr Shared Deployments must be the generated ones (env, resources, args with the default namespaces)."
  }

  assert {
    condition = alltrue([
      for f, d in kubernetes_deployment_v1.dapr_shared :
      [for e in d.spec[0].template[0].spec[0].container[0].env : e.value_from[0].secret_key_ref[0].name if startswith(e.name, "TASKPULSE_KAFKA_") && e.name != "TASKPULSE_KAFKA_CONSUMER_GROUP"] == ["${f}-kafka", "${f}-kafka", "${f}-kafka"]
    ])
    error_message = "Each daprd logs in to Kafka as its function, from the Secret <function>-kafka."
  }

  assert {
    condition     = length(kubernetes_secret_v1.dapr_tokens) == 4 && alltrue([for s in kubernetes_secret_v1.dapr_tokens : s.data_wo_revision == 1])
    error_message = "Generated tokens go into one write-only Secret per function."
  }

  assert {
    condition     = output.dapr_http_endpoints["push-update"] == "http://push-update-dapr.taskpulse.svc.cluster.local:3500"
    error_message = "push-update must find its Dapr Shared instance."
  }

  assert {
    condition = alltrue([
      for sa in kubernetes_service_account_v1.function : sa.automount_service_account_token == false
    ]) && length(kubernetes_role_v1.deployer) == 0
    error_message = "Function service accounts get no token and no role."
  }
}

run "redpanda_uses_a_topic_job" {
  command = plan

  variables {
    kafka = { mode = "redpanda" }
  }

  assert {
    condition     = length(helm_release.redpanda) == 1 && length(helm_release.strimzi) == 0 && length(kubernetes_job_v1.kafka_topics) == 1
    error_message = "Redpanda mode installs the chart and creates topics with a job."
  }

  assert {
    condition     = strcontains(kubernetes_job_v1.kafka_topics[0].spec[0].template[0].spec[0].container[0].command[2], "rpk topic create task-events -p 3 -r 1 -c retention.ms=604800000")
    error_message = "The topic job must create task-events with 3 partitions and 7 days retention."
  }

  assert {
    condition = (
      yamldecode(helm_release.dapr_resources[0].values[0]).secure == false &&
      length(kubernetes_secret_v1.kafka_login) == 0 && length(random_password.kafka) == 0 &&
      alltrue([
        for d in kubernetes_deployment_v1.dapr_shared :
        length([for e in d.spec[0].template[0].spec[0].container[0].env : e if contains(["TASKPULSE_KAFKA_USERNAME", "TASKPULSE_KAFKA_PASSWORD", "TASKPULSE_KAFKA_CA_CERT"], e.name)]) == 0
      ])
    )
    error_message = "Redpanda is plaintext: pubsub-kafka without authentication or TLS, no Kafka logins for the daprd."
  }
}

run "redpanda_refuses_credentials_it_would_not_use" {
  command = plan

  variables {
    kafka = { mode = "redpanda", sasl_secret_name = "kafka-sasl", tls = true }
  }

  expect_failures = [var.kafka]
}

run "external_kafka_never_sends_credentials_in_plaintext" {
  command = plan

  variables {
    kafka = { mode = "external", bootstrap_servers = "kafka.example.net:9092", sasl_secret_name = "kafka-sasl", tls = false }
  }

  expect_failures = [var.kafka]
}

run "a_backend_client_is_named_by_namespace_and_labels" {
  command = plan

  variables {
    # An empty selector would admit every pod of the namespace to the brokers.
    kafka = { backend_clients = [{ namespace = "orders", pod_labels = {} }] }
  }

  expect_failures = [var.kafka]
}

run "components_can_be_turned_off" {
  command = plan

  variables {
    components = { monitoring = false, cert_manager = false, centrifugo = false }
  }

  assert {
    condition     = length(helm_release.monitoring) == 0 && length(helm_release.cert_manager) == 0 && length(kubernetes_deployment_v1.centrifugo) == 0
    error_message = "Toggles must remove their component."
  }
}

run "unknown_version_override_is_rejected" {
  command = plan

  variables {
    version_overrides = { daprd = "1.0.0" }
  }

  expect_failures = [var.version_overrides]
}

run "knative_manifests_run_dapr_shared_instead" {
  command = plan

  variables {
    components = { dapr_shared = false, dapr_resources = false }
  }

  assert {
    condition     = length(kubernetes_deployment_v1.dapr_shared) == 0 && length(helm_release.dapr_resources) == 0
    error_message = "With dapr_shared and dapr_resources off, no daprd Deployment and no Dapr resources."
  }

  assert {
    condition     = length(kubernetes_secret_v1.dapr_tokens) == 4 && kubernetes_config_map_v1.dapr_trust_anchors.metadata[0].name == "dapr-trust-anchors"
    error_message = "The token Secrets and trust anchors that knative/ manifests use are still made."
  }
}

# --- identity: one set of OpenID Connect settings for create-task and Centrifugo -------------

run "identity_reaches_create_task_through_one_config_map" {
  command = plan

  assert {
    condition = kubernetes_config_map_v1.identity.metadata[0].name == "taskpulse-identity" && kubernetes_config_map_v1.identity.data == tomap({
      OIDC_ISSUER        = "http://127.0.0.1:4444/"
      OIDC_AUDIENCE      = "taskpulse"
      OIDC_USER_CLAIM    = "sub"
      OIDC_SERVICE_SCOPE = "taskpulse.service"
      OIDC_JWKS_URL      = "http://host.minikube.internal:4444/.well-known/jwks.json"
    })
    error_message = "taskpulse-identity must carry every OIDC_* setting create-task reads, with the defaults of the code."
  }

  assert {
    condition     = output.identity_config_map == "taskpulse-identity" && output.oidc.user_claim == "sub"
    error_message = "The outputs name the ConfigMap and the settings in force."
  }

  assert {
    condition     = !contains(keys(kubernetes_config_map_v1.identity.data), "INSECURE_LOCAL_DEV")
    error_message = "Nothing in the cluster turns the functions' token checks off."
  }
}

run "centrifugo_verifies_the_users_access_tokens" {
  command = plan

  assert {
    condition = jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.token == {
      jwks_public_endpoint = "http://host.minikube.internal:4444/.well-known/jwks.json"
      issuer               = "http://127.0.0.1:4444/"
      audience             = "taskpulse"
      user_id_claim        = "sub"
    }
    error_message = "Centrifugo must check the issuer's keys, iss, aud and take the user from the same claim as create-task."
  }

  assert {
    condition     = !contains([for e in kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].spec[0].container[0].env : e.name], "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY")
    error_message = "With JWKS, Centrifugo gets no HMAC key (it would ignore it)."
  }

  assert {
    condition     = output.centrifugo_token_verification == "jwks"
    error_message = "JWKS is the default."
  }

  assert {
    condition     = jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.disallow_anonymous_connection_tokens == true
    error_message = "A token without the user claim must not connect as the anonymous user."
  }
}

run "centrifugo_hmac_for_backends_that_mint_their_own_tokens" {
  command = plan

  variables {
    centrifugo_token_verification = "hmac"
    oidc_jwks_url                 = null
  }

  assert {
    condition     = jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.token == {}
    error_message = "With HMAC, Centrifugo checks no JWKS, issuer or audience of the IdP."
  }

  assert {
    condition = [
      for e in kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].spec[0].container[0].env :
      e.value_from[0].secret_key_ref[0].key if e.name == "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY"
    ] == ["token-hmac-secret-key"]
    error_message = "With HMAC, Centrifugo reads its key from the Secret."
  }

  assert {
    condition     = !contains(keys(kubernetes_config_map_v1.identity.data), "OIDC_JWKS_URL")
    error_message = "Without a JWKS URL create-task gets none (its reference is optional) and uses discovery."
  }
}

run "jwks_verification_needs_a_jwks_url" {
  command = plan

  variables {
    oidc_jwks_url = null
  }

  expect_failures = [var.centrifugo_token_verification]
}

run "without_centrifugo_no_jwks_url_is_needed" {
  command = plan

  variables {
    oidc_jwks_url = null
    components    = { centrifugo = false }
  }

  assert {
    condition     = output.centrifugo_token_verification == null && length(kubernetes_config_map_v1.centrifugo) == 0
    error_message = "Without Centrifugo, create-task alone needs only the issuer."
  }
}

run "an_unknown_verification_is_refused" {
  command = plan

  variables {
    centrifugo_token_verification = "none"
  }

  expect_failures = [var.centrifugo_token_verification]
}

run "the_issuer_must_be_a_url" {
  command = plan

  variables {
    oidc_issuer = "login.example.com"
  }

  expect_failures = [var.oidc_issuer]
}

run "the_issuer_has_no_query" {
  command = plan

  variables {
    oidc_issuer = "https://login.example.com/?tenant=1"
  }

  expect_failures = [var.oidc_issuer]
}

run "the_audience_is_not_empty" {
  command = plan

  variables {
    oidc_audience = ""
  }

  expect_failures = [var.oidc_audience]
}

run "the_user_claim_is_a_top_level_claim" {
  command = plan

  variables {
    oidc_user_claim = "profile.email"
  }

  expect_failures = [var.oidc_user_claim]
}

run "the_service_scope_is_one_scope" {
  command = plan

  variables {
    oidc_service_scope = "taskpulse.service admin"
  }

  expect_failures = [var.oidc_service_scope]
}

run "the_jwks_url_must_be_a_url" {
  command = plan

  variables {
    oidc_jwks_url = "host.minikube.internal:4444/.well-known/jwks.json"
  }

  expect_failures = [var.oidc_jwks_url]
}
