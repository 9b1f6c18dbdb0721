# NetworkPolicies and PodDisruptionBudgets (network.tf, pdb.tf; decision 0026), planned
# against mocked providers. tests/infra/test_network_policies.py checks the same policies
# against the pods' labels in knative/ and against knative/base/network-policies.yaml.

mock_provider "helm" {}
mock_provider "kubernetes" {
  mock_data "kubernetes_config_map_v1" {
    defaults = {
      data = { "ca.crt" = "-----BEGIN CERTIFICATE-----\nMIIB (mock)\n-----END CERTIFICATE-----\n" }
    }
  }
}
mock_provider "random" {}

variables {
  environment   = "aks"
  oidc_issuer   = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
  oidc_jwks_url = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys"
}

run "aks_denies_everything_then_allows_each_path" {
  command = plan

  assert {
    condition = (
      kubernetes_network_policy_v1.this["default-deny-ingress"].spec[0].policy_types == tolist(["Ingress"]) &&
      length(kubernetes_network_policy_v1.this["default-deny-ingress"].spec[0].ingress) == 0 &&
      length(kubernetes_network_policy_v1.this["default-deny-ingress"].spec[0].pod_selector[0].match_labels) == 0 &&
      kubernetes_network_policy_v1.this["default-deny-egress"].spec[0].policy_types == tolist(["Egress"]) &&
      length(kubernetes_network_policy_v1.this["default-deny-egress"].spec[0].egress) == 0 &&
      length(kubernetes_network_policy_v1.this["default-deny-egress"].spec[0].pod_selector[0].match_labels) == 0
    )
    error_message = "Every pod of the namespace must start from no ingress and no egress."
  }

  assert {
    condition     = alltrue([for p in kubernetes_network_policy_v1.this : p.metadata[0].namespace == "taskpulse"])
    error_message = "Every policy belongs in the functions' namespace."
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["dns-egress"].spec[0].egress[0].to[0].namespace_selector[0].match_labels["kubernetes.io/metadata.name"] == "kube-system" &&
      kubernetes_network_policy_v1.this["dns-egress"].spec[0].egress[0].to[0].pod_selector[0].match_labels["k8s-app"] == "kube-dns" &&
      toset([for p in kubernetes_network_policy_v1.this["dns-egress"].spec[0].egress[0].ports : "${p.protocol}/${p.port}"]) == toset(["UDP/53", "TCP/53"])
    )
    error_message = "Every pod may ask CoreDNS (kube-system, k8s-app=kube-dns) on 53/UDP and 53/TCP, and nothing else through this policy."
  }

  # A function reaches its own daprd on the Dapr API ports, and no other daprd.
  assert {
    condition = alltrue([for f in ["create-task", "compute-next-occurrence", "send-reminder", "push-update"] : (
      kubernetes_network_policy_v1.this["${f}-egress"].spec[0].pod_selector[0].match_labels == tomap({ "serving.knative.dev/service" = f }) &&
      kubernetes_network_policy_v1.this["${f}-egress"].spec[0].egress[0].to[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "${f}-dapr" }) &&
      [for p in kubernetes_network_policy_v1.this["${f}-egress"].spec[0].egress[0].ports : p.port] == ["3500", "50001"] &&
      kubernetes_network_policy_v1.this["${f}-egress"].spec[0].egress[1].ports[0].port == "5432"
    )])
    error_message = "Each function may call only its own daprd (3500, 50001) and PostgreSQL (5432)."
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["push-update-egress"].spec[0].egress[3].to[0].pod_selector[0].match_labels["app.kubernetes.io/name"] == "centrifugo" &&
      kubernetes_network_policy_v1.this["push-update-egress"].spec[0].egress[3].ports[0].port == "9000" &&
      kubernetes_network_policy_v1.this["send-reminder-egress"].spec[0].egress[3].ports[0].port == "587" &&
      kubernetes_network_policy_v1.this["create-task-egress"].spec[0].egress[3].ports[0].port == "443" &&
      length(kubernetes_network_policy_v1.this["compute-next-occurrence-egress"].spec[0].egress) == 3
    )
    error_message = "push-update reaches Centrifugo's API, send-reminder its SMTP relay, create-task the issuer on 443; compute-next-occurrence nothing more."
  }

  assert {
    # On AKS the functions fetch their database token from Entra ID (decision 0023).
    condition     = alltrue([for f in ["create-task", "compute-next-occurrence", "send-reminder", "push-update"] : kubernetes_network_policy_v1.this["${f}-egress"].spec[0].egress[2].ports[0].port == "443"])
    error_message = "On AKS every function must reach Entra ID on 443 for its workload-identity token."
  }

  # A daprd reaches the Strimzi brokers, the Dapr control plane and its function.
  assert {
    condition = alltrue([for f in ["create-task", "compute-next-occurrence", "send-reminder", "push-update"] : (
      kubernetes_network_policy_v1.this["${f}-dapr-egress"].spec[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "${f}-dapr" }) &&
      kubernetes_network_policy_v1.this["${f}-dapr-egress"].spec[0].egress[0].to[0].namespace_selector[0].match_labels["kubernetes.io/metadata.name"] == "kafka" &&
      kubernetes_network_policy_v1.this["${f}-dapr-egress"].spec[0].egress[0].to[0].pod_selector[0].match_labels == tomap({ "strimzi.io/cluster" = "taskpulse", "strimzi.io/broker-role" = "true" }) &&
      kubernetes_network_policy_v1.this["${f}-dapr-egress"].spec[0].egress[0].ports[0].port == "9093"
    )])
    error_message = "Each daprd must reach the Strimzi brokers (kafka, strimzi.io/cluster=taskpulse, broker-role) on 9093."
  }

  assert {
    condition = toset([for r in slice(kubernetes_network_policy_v1.this["create-task-dapr-egress"].spec[0].egress, 1, 5) :
      "${r.to[0].namespace_selector[0].match_labels["kubernetes.io/metadata.name"]}/${r.to[0].pod_selector[0].match_labels["app"]}:${r.ports[0].port}"
      ]) == toset([
      "dapr-system/dapr-operator:6500", "dapr-system/dapr-sentry:50001",
      "dapr-system/dapr-scheduler-server:50006", "dapr-system/dapr-placement-server:50005",
    ])
    error_message = "daprd must reach the Dapr control plane on its pods' ports: operator 6500, sentry 50001, scheduler 50006, placement 50005."
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["create-task-dapr-egress"].spec[0].egress[5].ports[0].port == "8081" &&
      kubernetes_network_policy_v1.this["create-task-dapr-egress"].spec[0].egress[5].to[0].pod_selector[0].match_labels["app"] == "3scale-kourier-gateway" &&
      kubernetes_network_policy_v1.this["create-task-dapr-egress"].spec[0].egress[6].to[0].pod_selector[0].match_labels == tomap({ "serving.knative.dev/service" = "create-task" }) &&
      length(kubernetes_network_policy_v1.this["create-task-dapr-egress"].spec[0].egress) == 7
    )
    error_message = "daprd reaches its function through Kourier's internal listener (8081) or its pods' queue-proxy, and nothing else."
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["taskpulse-migrate-egress"].spec[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "taskpulse-migrate" }) &&
      [for r in kubernetes_network_policy_v1.this["taskpulse-migrate-egress"].spec[0].egress : r.ports[0].port] == ["5432", "443"]
    )
    error_message = "The pipeline's migration Job reaches PostgreSQL and Entra ID (its token), nothing else."
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress[0].to[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "centrifugo-redis" }) &&
      kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress[0].ports[0].port == "6379" &&
      kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress[1].ports[0].port == "443" &&
      kubernetes_network_policy_v1.centrifugo_redis[0].spec[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "centrifugo-redis" }) &&
      length(kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress) == 2
    )
    error_message = "Centrifugo reaches its Redis (6379, which takes nobody else) and fetches the issuer's JWKS on 443."
  }

  # Prometheus (namespace monitoring) scrapes the functions on 8080 and every daprd on 9095.
  assert {
    condition = (
      kubernetes_network_policy_v1.this["push-update-ingress"].spec[0].ingress[1].from[0].namespace_selector[0].match_labels["kubernetes.io/metadata.name"] == "monitoring" &&
      kubernetes_network_policy_v1.this["push-update-ingress"].spec[0].ingress[1].ports[0].port == "8080" &&
      kubernetes_network_policy_v1.this["push-update-dapr-ingress"].spec[0].ingress[2].from[0].namespace_selector[0].match_labels["kubernetes.io/metadata.name"] == "monitoring" &&
      kubernetes_network_policy_v1.this["push-update-dapr-ingress"].spec[0].ingress[2].ports[0].port == "9095"
    )
    error_message = "Prometheus must reach the functions' metrics (8080) and daprd's (9095)."
  }

  # Two daprd per function on AKS: one PDB each, at most one down.
  assert {
    condition = alltrue([for f in ["create-task", "compute-next-occurrence", "send-reminder", "push-update"] : (
      kubernetes_pod_disruption_budget_v1.dapr_shared[f].spec[0].max_unavailable == "1" &&
      kubernetes_pod_disruption_budget_v1.dapr_shared[f].spec[0].selector[0].match_labels == kubernetes_deployment_v1.dapr_shared[f].spec[0].selector[0].match_labels &&
      kubernetes_pod_disruption_budget_v1.dapr_shared[f].metadata[0].namespace == "taskpulse"
    )])
    error_message = "Each Dapr Shared Deployment with two replicas needs a PDB on its own pods (maxUnavailable 1)."
  }

  assert {
    condition     = yamldecode(helm_release.cert_manager[0].values[0]).podDisruptionBudget.enabled == true && yamldecode(helm_release.cert_manager[0].values[0]).replicaCount == 2
    error_message = "cert-manager's controller runs two replicas on AKS and must have its chart's PDB."
  }
}

run "local_ports_follow_the_issuer_and_single_replicas_need_no_pdb" {
  command = plan

  variables {
    environment   = "local"
    oidc_issuer   = "http://127.0.0.1:4444/"
    oidc_jwks_url = "http://host.minikube.internal:4444/.well-known/jwks.json"
  }

  assert {
    condition = (
      length(kubernetes_network_policy_v1.this["create-task-egress"].spec[0].egress) == 3 &&
      [for p in kubernetes_network_policy_v1.this["create-task-egress"].spec[0].egress[2].ports : p.port] == ["4444"] &&
      length(kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress) == 1 &&
      kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress[0].ports[0].port == "4444"
    )
    error_message = "On a laptop the issuer's port comes from its URLs (4444), and no Entra ID rule is added."
  }

  assert {
    condition     = length(kubernetes_pod_disruption_budget_v1.dapr_shared) == 0 && yamldecode(helm_release.cert_manager[0].values[0]).podDisruptionBudget.enabled == false
    error_message = "Single replicas get no PDB (it would block every drain)."
  }
}

run "external_kafka_by_cidr_and_port" {
  command = plan

  variables {
    kafka = {
      mode              = "external"
      bootstrap_servers = "b1.kafka.example.net:9093,b2.kafka.example.net:9094"
      sasl_secret_name  = "kafka-sasl"
      tls               = true
    }
    network_policies = {
      kafka_cidrs = ["10.20.0.0/16"]
      database    = { cidrs = ["10.30.1.0/24"] }
    }
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["send-reminder-dapr-egress"].spec[0].egress[0].to[0].ip_block[0].cidr == "10.20.0.0/16" &&
      [for p in kubernetes_network_policy_v1.this["send-reminder-dapr-egress"].spec[0].egress[0].ports : p.port] == ["9093", "9094"] &&
      kubernetes_network_policy_v1.this["kafka-topics-egress"].spec[0].pod_selector[0].match_labels["app.kubernetes.io/name"] == "kafka-topics" &&
      kubernetes_network_policy_v1.this["kafka-topics-egress"].spec[0].egress[0].to[0].ip_block[0].cidr == "10.20.0.0/16" &&
      kubernetes_network_policy_v1.this["send-reminder-egress"].spec[0].egress[1].to[0].ip_block[0].cidr == "10.30.1.0/24"
    )
    error_message = "An external Kafka is reached on its CIDRs and the bootstrap servers' ports; PostgreSQL on its CIDRs."
  }
}

run "centrifugo_reaches_an_external_redis_on_its_port" {
  command = plan

  variables {
    centrifugo_redis = { address = "rediss://redis.example.net:6380", secret_name = "centrifugo-redis-external" }
    network_policies = { redis_cidrs = ["10.40.0.0/24"] }
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress[0].to[0].ip_block[0].cidr == "10.40.0.0/24" &&
      kubernetes_network_policy_v1.this["centrifugo-egress"].spec[0].egress[0].ports[0].port == "6380" &&
      length(kubernetes_network_policy_v1.centrifugo_redis) == 0
    )
    error_message = "An external Redis is reached on redis_cidrs at its address's port."
  }
}

run "redpanda_brokers_by_label" {
  command = plan

  variables {
    kafka = { mode = "redpanda" }
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.this["push-update-dapr-egress"].spec[0].egress[0].to[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "redpanda" }) &&
      kubernetes_network_policy_v1.this["push-update-dapr-egress"].spec[0].egress[0].ports[0].port == "9093"
    )
    error_message = "Redpanda's brokers are reached by their chart's label on 9093."
  }
}

run "knative_daprd_reads_its_secret_through_the_api_server" {
  command = plan

  variables {
    components = { dapr_shared = false, dapr_resources = false }
  }

  assert {
    condition = (
      length(kubernetes_pod_disruption_budget_v1.dapr_shared) == 4 &&
      kubernetes_pod_disruption_budget_v1.dapr_shared["push-update"].spec[0].selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "push-update-dapr" }) &&
      [for p in kubernetes_network_policy_v1.this["create-task-dapr-egress"].spec[0].egress[7].ports : p.port] == ["443", "6443"]
    )
    error_message = "knative/'s daprd (secretstores.kubernetes) needs the API server, and its two replicas on AKS (knative/overlays/aks) their PDB."
  }
}

run "policies_can_be_turned_off" {
  command = plan

  variables {
    network_policies = { enabled = false }
  }

  assert {
    condition     = length(kubernetes_network_policy_v1.this) == 0
    error_message = "network_policies.enabled = false must create no policy."
  }
}

run "a_cidr_must_be_a_cidr" {
  command = plan

  variables {
    network_policies = { smtp = { cidrs = ["smtp.example.net"] } }
  }

  expect_failures = [var.network_policies]
}
