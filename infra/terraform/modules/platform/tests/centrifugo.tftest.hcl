# Centrifugo scales out (centrifugo_redis.tf, decision 0025): on AKS two replicas share one
# Redis engine and a PodDisruptionBudget keeps one serving; a laptop keeps one replica and
# the memory engine. Planned against mocked providers.

mock_provider "helm" {}
mock_provider "kubernetes" {}
mock_provider "random" {}

variables {
  environment     = "aks"
  oidc_issuer     = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
  oidc_audience   = "00000000-0000-0000-0000-000000000003"
  oidc_user_claim = "oid"
  oidc_jwks_url   = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys"
}

run "aks_runs_two_replicas_on_one_shared_redis" {
  command = plan

  assert {
    condition     = kubernetes_deployment_v1.centrifugo[0].spec[0].replicas == "2"
    error_message = "Centrifugo must run two replicas on AKS."
  }

  assert {
    condition = jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).engine == {
      type  = "redis"
      redis = { address = ["redis://centrifugo-redis.taskpulse.svc.cluster.local:6379"] }
    }
    error_message = "Every replica must run the Redis engine on the in-cluster server (engine.type redis, engine.redis.address a list)."
  }

  assert {
    condition = one([
      for e in kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].spec[0].container[0].env :
      "${e.value_from[0].secret_key_ref[0].name}/${e.value_from[0].secret_key_ref[0].key}"
      if e.name == "CENTRIFUGO_ENGINE_REDIS_PASSWORD"
    ]) == "centrifugo-redis/password"
    error_message = "Centrifugo must get the Redis password from Secret centrifugo-redis, key password, as CENTRIFUGO_ENGINE_REDIS_PASSWORD."
  }

  assert {
    condition     = !strcontains(kubernetes_config_map_v1.centrifugo[0].data["config.json"], "password")
    error_message = "No password in Centrifugo's ConfigMap."
  }

  assert {
    condition = (
      length(kubernetes_pod_disruption_budget_v1.centrifugo) == 1 &&
      kubernetes_pod_disruption_budget_v1.centrifugo[0].spec[0].min_available == "1" &&
      kubernetes_pod_disruption_budget_v1.centrifugo[0].spec[0].selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "centrifugo" })
    )
    error_message = "A PodDisruptionBudget must keep at least one Centrifugo replica through drains."
  }

  assert {
    condition = anytrue([
      for t in kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].spec[0].topology_spread_constraint :
      t.topology_key == "kubernetes.io/hostname" && t.max_skew == 1
    ])
    error_message = "Centrifugo's replicas must be spread over nodes."
  }

  assert {
    condition = (
      length(kubernetes_deployment_v1.centrifugo_redis) == 1 &&
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].replicas == "1" &&
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].strategy[0].type == "Recreate" &&
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].image == "docker.io/valkey/valkey:8.1.4"
    )
    error_message = "One Valkey from the pin, replaced (never two at once) on a rollout."
  }

  assert {
    condition = (
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].args[0] == "/etc/valkey/auth.conf" &&
      join(" ", kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].args) == "/etc/valkey/auth.conf --port 6379 --save  --appendonly no --maxmemory 200mb --maxmemory-policy volatile-lru"
    )
    error_message = "Valkey must read its password from the Secret's file and persist nothing."
  }

  assert {
    condition = alltrue([
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].security_context[0].run_as_non_root,
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].security_context[0].seccomp_profile[0].type == "RuntimeDefault",
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].security_context[0].read_only_root_filesystem,
      !kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].security_context[0].allow_privilege_escalation,
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].security_context[0].capabilities[0].drop == tolist(["ALL"]),
    ])
    error_message = "Valkey must meet Pod Security restricted, as the namespace enforces."
  }

  assert {
    condition = (
      kubernetes_service_v1.centrifugo_redis[0].metadata[0].name == "centrifugo-redis" &&
      kubernetes_service_v1.centrifugo_redis[0].spec[0].port[0].port == 6379 &&
      kubernetes_service_v1.centrifugo_redis[0].spec[0].selector == tomap({ "app.kubernetes.io/name" = "centrifugo-redis" }) &&
      length(kubernetes_secret_v1.centrifugo_redis) == 1
    )
    error_message = "Valkey's Service and generated Secret must be there for the address Centrifugo is given."
  }

  assert {
    condition     = kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].metadata[0].annotations["taskpulse.dev/secrets-revision"] == "1"
    error_message = "Valkey must restart when secrets.revision rotates its password."
  }

  assert {
    condition = (
      kubernetes_network_policy_v1.centrifugo_redis[0].spec[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "centrifugo-redis" }) &&
      kubernetes_network_policy_v1.centrifugo_redis[0].spec[0].policy_types == tolist(["Ingress"]) &&
      length(kubernetes_network_policy_v1.centrifugo_redis[0].spec[0].ingress) == 1 &&
      kubernetes_network_policy_v1.centrifugo_redis[0].spec[0].ingress[0].from[0].pod_selector[0].match_labels == tomap({ "app.kubernetes.io/name" = "centrifugo" }) &&
      kubernetes_network_policy_v1.centrifugo_redis[0].spec[0].ingress[0].ports[0].port == "6379"
    )
    error_message = "Only Centrifugo's pods may reach Valkey, on 6379."
  }
}

run "a_laptop_keeps_one_replica_and_the_memory_engine" {
  command = plan

  variables {
    environment   = "local"
    oidc_issuer   = "http://127.0.0.1:4444/"
    oidc_jwks_url = "http://host.minikube.internal:4444/.well-known/jwks.json"
  }

  assert {
    condition = (
      kubernetes_deployment_v1.centrifugo[0].spec[0].replicas == "1" &&
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).engine == { type = "memory" }
    )
    error_message = "One replica with the memory engine on a laptop."
  }

  assert {
    condition = (
      length(kubernetes_deployment_v1.centrifugo_redis) == 0 &&
      length(kubernetes_secret_v1.centrifugo_redis) == 0 &&
      length(kubernetes_pod_disruption_budget_v1.centrifugo) == 0 &&
      !contains([for e in kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].spec[0].container[0].env : e.name], "CENTRIFUGO_ENGINE_REDIS_PASSWORD")
    )
    error_message = "No Redis, no password and no PodDisruptionBudget (it would block every drain) with one replica."
  }
}

run "a_laptop_may_scale_out_too" {
  command = plan

  variables {
    environment         = "local"
    oidc_issuer         = "http://127.0.0.1:4444/"
    oidc_jwks_url       = "http://host.minikube.internal:4444/.well-known/jwks.json"
    centrifugo_replicas = 2
    version_overrides   = { valkey = "9.0.0" }
  }

  assert {
    condition = (
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).engine.type == "redis" &&
      length(kubernetes_pod_disruption_budget_v1.centrifugo) == 1 &&
      kubernetes_deployment_v1.centrifugo_redis[0].spec[0].template[0].spec[0].container[0].image == "docker.io/valkey/valkey:9.0.0"
    )
    error_message = "Two replicas anywhere run the Redis engine, a PodDisruptionBudget and the (overridable) Valkey."
  }
}

run "aks_with_one_replica_keeps_the_memory_engine" {
  command = plan

  variables {
    centrifugo_replicas = 1
  }

  assert {
    condition = (
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).engine == { type = "memory" } &&
      length(kubernetes_deployment_v1.centrifugo_redis) == 0 &&
      length(kubernetes_pod_disruption_budget_v1.centrifugo) == 0
    )
    error_message = "A single replica needs no shared engine and no PodDisruptionBudget."
  }
}

run "an_external_redis_takes_its_address_and_secret" {
  command = plan

  variables {
    centrifugo_redis = {
      address     = "rediss://taskpulse.westeurope.redis.azure.net:10000"
      secret_name = "managed-redis"
    }
  }

  assert {
    condition = (
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).engine.redis.address == ["rediss://taskpulse.westeurope.redis.azure.net:10000"] &&
      one([
        for e in kubernetes_deployment_v1.centrifugo[0].spec[0].template[0].spec[0].container[0].env :
        e.value_from[0].secret_key_ref[0].name if e.name == "CENTRIFUGO_ENGINE_REDIS_PASSWORD"
      ]) == "managed-redis"
    )
    error_message = "An external Redis's address goes to the config, its Secret to the password variable."
  }

  assert {
    condition = (
      length(kubernetes_deployment_v1.centrifugo_redis) == 0 &&
      length(kubernetes_service_v1.centrifugo_redis) == 0 &&
      length(kubernetes_secret_v1.centrifugo_redis) == 0 &&
      length(kubernetes_network_policy_v1.centrifugo_redis) == 0 &&
      length(kubernetes_pod_disruption_budget_v1.centrifugo) == 1
    )
    error_message = "With an external Redis the module runs none of its own (and still keeps the PodDisruptionBudget)."
  }
}

run "without_centrifugo_no_redis" {
  command = plan

  variables {
    components = { centrifugo = false }
  }

  assert {
    condition = (
      length(kubernetes_deployment_v1.centrifugo_redis) == 0 &&
      length(kubernetes_pod_disruption_budget_v1.centrifugo) == 0
    )
    error_message = "No Centrifugo, no Redis and no PodDisruptionBudget for it."
  }
}

run "plain_redis_outside_a_laptop_is_refused" {
  command = plan

  variables {
    centrifugo_redis = { address = "redis://redis.example.net:6379", secret_name = "r" }
  }

  expect_failures = [var.centrifugo_redis]
}

run "credentials_in_the_address_are_refused" {
  command = plan

  variables {
    centrifugo_redis = { address = "rediss://:secret@redis.example.net:6380", secret_name = "r" }
  }

  expect_failures = [var.centrifugo_redis]
}

run "an_external_redis_needs_its_secret_name" {
  command = plan

  variables {
    centrifugo_redis = { address = "rediss://redis.example.net:6380" }
  }

  expect_failures = [var.centrifugo_redis]
}

run "zero_replicas_are_refused" {
  command = plan

  variables {
    centrifugo_replicas = 0
  }

  expect_failures = [var.centrifugo_replicas]
}

run "a_fraction_of_a_replica_is_refused" {
  command = plan

  variables {
    centrifugo_replicas = 1.5
  }

  expect_failures = [var.centrifugo_replicas]
}
