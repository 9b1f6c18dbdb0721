# What modules/platform installs on AKS with the add-ons on (KEDA add-on, Dapr extension),
# a managed Kafka-compatible service and tokens from Key Vault, planned against mocks.

mock_provider "helm" {}
mock_provider "kubernetes" {
  # Dapr's trust bundle as Sentry leaves it (the AKS extension installs Dapr here).
  mock_data "kubernetes_config_map_v1" {
    defaults = {
      data = { "ca.crt" = "-----BEGIN CERTIFICATE-----\nMIIB (mock)\n-----END CERTIFICATE-----\n" }
    }
  }
}
mock_provider "random" {}

variables {
  environment = "aks"
  components  = { keda = false, dapr = false }
  kafka = {
    mode              = "external"
    bootstrap_servers = "kafka.example.net:9092"
    sasl_secret_name  = "kafka-sasl"
    tls               = true
  }
  secrets = {
    source         = "key-vault"
    key_vault_name = "taskpulse-kv-abcde"
    tenant_id      = "00000000-0000-0000-0000-000000000001"
    client_id      = "00000000-0000-0000-0000-000000000002"
  }
  storage_class     = "managed-csi-premium"
  deployer_subjects = [{ kind = "Group", name = "taskpulse-deployers" }]

  # Entra ID v2.0 access tokens for the API's app registration.
  oidc_issuer     = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
  oidc_audience   = "00000000-0000-0000-0000-000000000003"
  oidc_user_claim = "oid"
  oidc_jwks_url   = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys"
}

run "aks_leaves_addons_to_aks" {
  command = plan

  assert {
    condition     = length(helm_release.keda) == 0 && length(helm_release.dapr) == 0
    error_message = "With the KEDA add-on and the Dapr extension, neither chart is installed."
  }

  assert {
    condition = alltrue([
      length(helm_release.knative_operator) == 1,
      length(helm_release.cert_manager) == 1,
      length(helm_release.monitoring) == 1,
      length(helm_release.strimzi) == 0,
      length(helm_release.redpanda) == 0,
    ])
    error_message = "AKS with external Kafka installs Knative, cert-manager and monitoring, and no broker."
  }

  assert {
    condition     = yamldecode(helm_release.monitoring[0].values[1]).prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName == "managed-csi-premium"
    error_message = "Prometheus keeps its data on a persistent volume on AKS."
  }

  assert {
    condition     = yamldecode(helm_release.knative_serving[0].values[0]).highAvailability.replicas == 2
    error_message = "Knative runs two replicas on AKS."
  }
}

run "aks_external_kafka_topics_and_sasl" {
  command = plan

  assert {
    condition     = length(kubernetes_job_v1.kafka_topics) == 1 && output.kafka_bootstrap_servers == "kafka.example.net:9092"
    error_message = "External Kafka: topics by the job, against the given bootstrap servers."
  }

  assert {
    condition = contains(
      [for e in kubernetes_job_v1.kafka_topics[0].spec[0].template[0].spec[0].container[0].env : e.name],
      "RPK_PASS"
    )
    error_message = "The topic job reads SASL credentials from the Secret."
  }

  assert {
    condition = (
      yamldecode(helm_release.dapr_resources[0].values[0]).secure == true &&
      alltrue([
        for d in kubernetes_deployment_v1.dapr_shared : alltrue([
          for e in d.spec[0].template[0].spec[0].container[0].env : e.value_from[0].secret_key_ref[0].name == "kafka-sasl"
          if contains(["TASKPULSE_KAFKA_USERNAME", "TASKPULSE_KAFKA_PASSWORD", "TASKPULSE_KAFKA_CA_CERT"], e.name)
        ])
      ]) &&
      length(kubernetes_secret_v1.kafka_login) == 0
    )
    error_message = "pubsub-kafka authenticates over TLS with the SASL Secret (external Kafka: no KafkaUsers)."
  }

  assert {
    # pubsub.kafka's own name for SCRAM-SHA-512; "SCRAM-SHA-512" would mean SASL/PLAIN to it.
    condition     = yamldecode(helm_release.dapr_resources[0].values[0]).saslMechanism == "SHA-512"
    error_message = "pubsub-kafka must get the SASL mechanism in pubsub.kafka's spelling (SHA-512)."
  }
}

run "aks_tokens_come_from_key_vault" {
  command = plan

  assert {
    condition     = length(kubernetes_secret_v1.dapr_tokens) == 0
    error_message = "With Key Vault, Terraform writes no token Secret: the CSI driver syncs it."
  }

  assert {
    condition = alltrue([
      for d in kubernetes_deployment_v1.dapr_shared :
      d.spec[0].template[0].metadata[0].labels["azure.workload.identity/use"] == "true" &&
      contains([for v in d.spec[0].template[0].spec[0].volume : v.name], "tokens")
    ])
    error_message = "Dapr Shared pods mount the Key Vault CSI volume with workload identity."
  }

  assert {
    condition     = yamldecode(helm_release.dapr_resources[0].values[0]).keyVault.enabled == true
    error_message = "The Dapr resources chart must render the SecretProviderClasses."
  }

  assert {
    condition     = kubernetes_service_account_v1.dapr_shared["create-task"].metadata[0].annotations["azure.workload.identity/client-id"] == "00000000-0000-0000-0000-000000000002"
    error_message = "Dapr Shared service accounts carry the identity's client id."
  }

  assert {
    condition     = alltrue([for d in kubernetes_deployment_v1.dapr_shared : tostring(d.spec[0].replicas) == "2"])
    error_message = "Two Dapr Shared replicas per function on AKS."
  }
}

run "aks_deployers_get_a_namespaced_role" {
  command = plan

  assert {
    condition     = length(kubernetes_role_v1.deployer) == 1 && kubernetes_role_binding_v1.deployer[0].subject[0].name == "taskpulse-deployers"
    error_message = "Deployers get the namespaced deployer role."
  }
}

run "external_kafka_needs_bootstrap_servers" {
  command = plan

  variables {
    kafka = { mode = "external" }
  }

  expect_failures = [var.kafka]
}

run "key_vault_needs_its_identity" {
  command = plan

  variables {
    secrets = { source = "key-vault" }
  }

  expect_failures = [var.secrets]
}

run "kafka_tls_without_sasl_is_refused" {
  command = plan

  variables {
    kafka = { mode = "external", bootstrap_servers = "kafka.example.net:9093", tls = true }
  }

  expect_failures = [var.kafka]
}

run "an_empty_dapr_trust_bundle_stops_the_apply" {
  command = plan

  override_data {
    target = data.kubernetes_config_map_v1.dapr_trust_bundle
    values = { data = {} }
  }

  expect_failures = [kubernetes_config_map_v1.dapr_trust_anchors]
}

run "aks_identity_from_entra_id" {
  command = plan

  assert {
    condition = (
      kubernetes_config_map_v1.identity.data["OIDC_ISSUER"] == "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0" &&
      kubernetes_config_map_v1.identity.data["OIDC_AUDIENCE"] == "00000000-0000-0000-0000-000000000003" &&
      kubernetes_config_map_v1.identity.data["OIDC_USER_CLAIM"] == "oid"
    )
    error_message = "create-task gets Entra ID's issuer, the API's client id and the oid claim."
  }

  assert {
    condition = (
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.token.user_id_claim == "oid" &&
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.token.issuer == kubernetes_config_map_v1.identity.data["OIDC_ISSUER"] &&
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.token.audience == kubernetes_config_map_v1.identity.data["OIDC_AUDIENCE"]
    )
    error_message = "Centrifugo accepts exactly the tokens create-task accepts, and names the same user."
  }
}

run "aks_refuses_a_plain_http_issuer" {
  command = plan

  variables {
    oidc_issuer = "http://login.example.com/"
  }

  expect_failures = [var.oidc_issuer]
}

run "aks_refuses_plain_http_keys" {
  command = plan

  variables {
    oidc_jwks_url = "http://login.example.com/keys"
  }

  expect_failures = [var.oidc_jwks_url]
}
