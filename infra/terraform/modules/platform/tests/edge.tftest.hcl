# The edge (edge.tf; decision 0031), planned against mocked providers: with a `domain`, the
# Let's Encrypt issuers, Knative's external-domain TLS and Centrifugo's DomainMapping; without
# one, none of them and plain HTTP as before. tests/infra/test_edge.py renders the charts.

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
  environment                = "aks"
  oidc_issuer                = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
  oidc_jwks_url              = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/discovery/v2.0/keys"
  centrifugo_allowed_origins = ["https://app.example.org"]
}

run "a_domain_brings_issuers_tls_and_the_websocket_host" {
  command = plan

  variables {
    domain = "tp.example.org"
    acme   = { email = "ops@example.org", issuer = "production" }
  }

  assert {
    condition     = length(helm_release.edge) == 1
    error_message = "With a domain the edge chart (ClusterIssuers, DomainMapping) is installed."
  }
  assert {
    condition = (
      yamldecode(helm_release.edge[0].values[0]).acme.email == "ops@example.org" &&
      yamldecode(helm_release.edge[0].values[0]).centrifugo.host == "centrifugo.taskpulse.tp.example.org"
    )
    error_message = "The issuers carry the ACME contact and Centrifugo is mapped at centrifugo.<namespace>.<domain>."
  }
  assert {
    condition = (
      yamldecode(helm_release.knative_serving[0].values[0]).domain == "tp.example.org" &&
      yamldecode(helm_release.knative_serving[0].values[0]).tls.enabled == true &&
      yamldecode(helm_release.knative_serving[0].values[0]).tls.clusterIssuer == "letsencrypt-production"
    )
    error_message = "Knative's config-domain is the domain, external-domain TLS is on, from the chosen issuer."
  }
  assert {
    condition = (
      output.public_urls.create_task == "https://create-task.taskpulse.tp.example.org" &&
      output.public_urls.centrifugo_websocket == "wss://centrifugo.taskpulse.tp.example.org/connection/websocket" &&
      output.cluster_issuer == "letsencrypt-production"
    )
    error_message = "The public URLs are https/wss on the domain."
  }
  assert {
    condition = (
      length(kubernetes_network_policy_v1.edge) == 1 &&
      kubernetes_network_policy_v1.edge["acme-http01-solver-ingress"].spec[0].pod_selector[0].match_labels["acme.cert-manager.io/http01-solver"] == "true" &&
      kubernetes_network_policy_v1.edge["acme-http01-solver-ingress"].spec[0].ingress[0].ports[0].port == "8089"
    )
    error_message = "Kourier must reach cert-manager's HTTP-01 solver pods (8089) through the default deny."
  }
  assert {
    condition     = jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.allowed_origins == ["https://app.example.org"]
    error_message = "Centrifugo's allowed_origins come from centrifugo_allowed_origins."
  }
}

run "staging_is_the_default_issuer" {
  command = plan

  variables {
    domain = "tp.example.org"
    acme   = { email = "ops@example.org" }
  }

  assert {
    condition     = yamldecode(helm_release.knative_serving[0].values[0]).tls.clusterIssuer == "letsencrypt-staging"
    error_message = "Until acme.issuer says production, certificates come from Let's Encrypt staging."
  }
}

run "no_domain_no_tls" {
  command = plan

  variables {
    environment                = "local"
    oidc_issuer                = "http://127.0.0.1:4444/"
    oidc_jwks_url              = "http://host.minikube.internal:4444/.well-known/jwks.json"
    knative_domain             = "127.0.0.1.sslip.io"
    centrifugo_allowed_origins = null
  }

  assert {
    condition = (
      length(helm_release.edge) == 0 &&
      length(kubernetes_network_policy_v1.edge) == 0 &&
      output.public_urls == null && output.cluster_issuer == null
    )
    error_message = "Without a domain there are no issuers, no DomainMapping and no public URLs."
  }
  assert {
    condition = (
      yamldecode(helm_release.knative_serving[0].values[0]).tls.enabled == false &&
      yamldecode(helm_release.knative_serving[0].values[0]).domain == "127.0.0.1.sslip.io"
    )
    error_message = "Without a domain Knative stays plain HTTP on knative_domain."
  }
  assert {
    condition     = jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).client.allowed_origins == ["http://localhost:3000"]
    error_message = "On a laptop Centrifugo allows the local web app by default."
  }
  assert {
    condition = (
      jsondecode(kubernetes_config_map_v1.centrifugo[0].data["config.json"]).http_server.internal_port == "9000" &&
      output.centrifugo_api_url == "http://centrifugo.taskpulse.svc.cluster.local:9000/api"
    )
    error_message = "The server API is on Centrifugo's internal port, also without a domain."
  }
}

run "a_domain_needs_an_acme_contact" {
  command = plan
  variables {
    domain = "tp.example.org"
  }
  expect_failures = [var.acme]
}

run "a_domain_is_a_bare_dns_name" {
  command = plan
  variables {
    domain = "https://tp.example.org/"
    acme   = { email = "ops@example.org" }
  }
  expect_failures = [var.domain]
}

run "the_issuer_is_staging_or_production" {
  command = plan
  variables {
    domain = "tp.example.org"
    acme   = { email = "ops@example.org", issuer = "prod" }
  }
  expect_failures = [var.acme]
}

run "no_plain_http_origin_on_aks" {
  command = plan
  variables {
    centrifugo_allowed_origins = ["http://app.example.org"]
  }
  expect_failures = [var.centrifugo_allowed_origins]
}

run "an_origin_has_no_path" {
  command = plan
  variables {
    centrifugo_allowed_origins = ["https://app.example.org/"]
  }
  expect_failures = [var.centrifugo_allowed_origins]
}
