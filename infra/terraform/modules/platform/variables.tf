variable "environment" {
  description = "Where the platform runs: \"local\" (minikube/kind: single replicas, in-memory Dapr scheduler) or \"aks\"."
  type        = string

  validation {
    condition     = contains(["local", "aks"], var.environment)
    error_message = "environment must be \"local\" or \"aks\"."
  }
}

variable "components" {
  description = <<-EOT
    Which components this module installs. Turn `dapr` off when Dapr comes from the AKS
    extension Microsoft.Dapr, and `keda` off when the AKS KEDA add-on is on (it must be the only
    external metrics server). `kafka` installs the in-cluster broker chosen by `kafka.mode`.
    `dapr_shared` runs one daprd Deployment per function; turn it (and `dapr_resources`) off
    when the repo's knative/ and dapr-components/ kustomizations are applied instead: the
    token Secrets and the dapr-trust-anchors ConfigMap they use are made either way.
  EOT
  type = object({
    cert_manager = optional(bool, true)
    monitoring   = optional(bool, true)
    knative      = optional(bool, true)
    dapr         = optional(bool, true)
    keda         = optional(bool, true)
    kafka        = optional(bool, true)
    centrifugo   = optional(bool, true)
    dapr_shared  = optional(bool, true)
    # The pubsub-kafka Component and the Subscriptions (off when dapr-components/cluster
    # is applied instead).
    dapr_resources = optional(bool, true)
  })
  default = {}
}

variable "namespace" {
  description = "Namespace of the functions, their Dapr Shared instances and the push gateway (Pod Security \"restricted\")."
  type        = string
  default     = "taskpulse"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS-1123 label."
  }
}

variable "functions" {
  description = "Function names; each is also its Dapr app id and Knative service name (contract.py Function)."
  type        = list(string)
  default     = ["create-task", "compute-next-occurrence", "send-reminder", "push-update"]

  validation {
    condition     = length(var.functions) > 0 && alltrue([for f in var.functions : can(regex("^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$", f))])
    error_message = "functions must be a non-empty list of DNS-1123 labels of at most 42 characters."
  }
}

variable "version_overrides" {
  description = "Replace some of the pinned versions of modules/versions (keys: dapr, keda, knative_operator, ...). Leave empty to use the pins."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for k in keys(var.version_overrides) : contains([
      "dapr", "keda", "knative_operator", "knative_serving", "strimzi", "redpanda_chart",
      "redpanda", "cert_manager", "kube_prometheus_stack", "centrifugo", "valkey",
    ], k)])
    error_message = "version_overrides has an unknown key (see modules/versions/main.tf)."
  }
}

variable "kafka" {
  description = <<-EOT
    Kafka for Dapr pub/sub. mode "strimzi" (operator + KRaft cluster + KafkaTopic resources;
    one TLS + SCRAM-SHA-512 listener, a KafkaUser per function with the contract's ACLs, each
    login in Secret `<principal>-kafka`: `sasl_secret_name`, `sasl_mechanism` and `tls` are
    not used), "redpanda" (chart + a job that creates the topics with rpk; plaintext without
    authentication, for laptops: `sasl_secret_name` and `tls` must stay unset) or "external"
    (a managed Kafka-compatible service at `bootstrap_servers`; topics are created by the same
    rpk job; SASL over TLS with the Secret `sasl_secret_name` in `namespace`, keys
    username/password and optional ca.crt, for every daprd; or plaintext with neither).
    `sasl_mechanism` is spelled as Kafka names it; the module hands pub/sub the spelling
    pubsub.kafka reads (SHA-512, SHA-256, PLAINTEXT).
    `backend_clients` (strimzi): the pods of trusted backends that send commands to
    task-events as `taskpulse-backend` (login in Secret `taskpulse-backend-kafka`), by
    namespace and pod labels; the brokers' NetworkPolicy admits them too.
  EOT
  type = object({
    mode              = optional(string, "strimzi")
    bootstrap_servers = optional(string, "")
    replicas          = optional(number, 1)
    storage_size      = optional(string, "10Gi")
    sasl_secret_name  = optional(string, "")
    sasl_mechanism    = optional(string, "SCRAM-SHA-512")
    tls               = optional(bool, false)
    create_topics     = optional(bool, true)
    backend_clients = optional(list(object({
      namespace  = string
      pod_labels = map(string)
    })), [])
  })
  default = {}

  validation {
    condition     = contains(["strimzi", "redpanda", "external"], var.kafka.mode)
    error_message = "kafka.mode must be strimzi, redpanda or external."
  }
  validation {
    condition     = var.kafka.mode != "external" || length(var.kafka.bootstrap_servers) > 0
    error_message = "kafka.bootstrap_servers is required when kafka.mode is external."
  }
  validation {
    condition     = var.kafka.replicas >= 1 && var.kafka.replicas <= 9
    error_message = "kafka.replicas must be between 1 and 9."
  }
  validation {
    # pubsub.kafka turns TLS off when it has no authentication (authType none), and TLS
    # without SASL needs a CA certificate this module does not take
    # (components-contrib common/component/kafka/auth.go, updateTLSConfig).
    condition     = !var.kafka.tls || var.kafka.sasl_secret_name != ""
    error_message = "kafka.tls needs kafka.sasl_secret_name: without SASL, Dapr's Kafka component would connect without TLS."
  }
  validation {
    # The daprd's pubsub-kafka takes SASL and TLS together (authType password with
    # disableTls false) or neither: SASL credentials over plaintext are refused.
    condition     = var.kafka.mode != "external" || var.kafka.sasl_secret_name == "" || var.kafka.tls
    error_message = "kafka.sasl_secret_name needs kafka.tls = true with an external Kafka: credentials are not sent in plaintext."
  }
  validation {
    condition     = var.kafka.mode != "redpanda" || (var.kafka.sasl_secret_name == "" && !var.kafka.tls)
    error_message = "The module's Redpanda is plaintext without authentication (a laptop broker): leave kafka.sasl_secret_name empty and kafka.tls false."
  }
  validation {
    # An empty selector would admit every pod of the namespace (or of the cluster).
    condition = alltrue([
      for c in var.kafka.backend_clients : length(c.namespace) > 0 && length(c.pod_labels) > 0
    ])
    error_message = "Each kafka.backend_clients entry needs a namespace and at least one pod label."
  }
  validation {
    condition     = contains(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], var.kafka.sasl_mechanism)
    error_message = "kafka.sasl_mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
  }
}

variable "storage_class" {
  description = "Storage class for Kafka, Prometheus and the Dapr scheduler; null uses the cluster default."
  type        = string
  default     = null
}

variable "dapr_control_plane_namespace" {
  description = "Namespace of the Dapr control plane (the chart installs it there; the AKS extension uses dapr-system too)."
  type        = string
  default     = "dapr-system"
}

variable "dapr_trust_domain" {
  description = "Dapr trust domain (chart value global.mtls.controlPlaneTrustDomain)."
  type        = string
  default     = "cluster.local"
}

variable "secrets" {
  description = <<-EOT
    Where the Dapr API/app tokens come from. "generated": ephemeral random values written
    once into Kubernetes Secrets through write-only arguments (nothing lands in state; bump
    `revision` to rotate, which also rolls the daprd and Centrifugo pods). "key-vault": the
    AKS module stores them in Key Vault and the Secrets Store CSI driver syncs them into the
    same Secrets through workload identity (`key_vault_name`, `tenant_id`, `client_id` of the
    user-assigned identity). Centrifugo's keys are always generated here, the same way.
  EOT
  type = object({
    source         = optional(string, "generated")
    revision       = optional(number, 1)
    key_vault_name = optional(string, "")
    tenant_id      = optional(string, "")
    client_id      = optional(string, "")
  })
  default = {}

  validation {
    condition     = contains(["generated", "key-vault"], var.secrets.source)
    error_message = "secrets.source must be generated or key-vault."
  }
  validation {
    condition     = var.secrets.source != "key-vault" || (var.secrets.key_vault_name != "" && var.secrets.tenant_id != "" && var.secrets.client_id != "")
    error_message = "secrets.key_vault_name, tenant_id and client_id are required when secrets.source is key-vault."
  }
  validation {
    condition     = var.secrets.revision >= 1
    error_message = "secrets.revision must be 1 or more."
  }
}

variable "knative_domain" {
  description = "Domain of plain-HTTP Knative routes when `domain` is null (a laptop: an sslip.io name of the Kourier address, or empty for Knative's default example.com, reached through the Kourier service). Ignored when `domain` is set."
  type        = string
  default     = ""
}

variable "domain" {
  description = <<-EOT
    The public DNS domain of the edge (edge.tf, decision 0031). Set: Knative's config-domain is
    this domain, create-task is served at https://create-task.<namespace>.<domain> and
    Centrifugo's WebSocket at wss://centrifugo.<namespace>.<domain>/connection/websocket, both
    with Let's Encrypt certificates obtained by HTTP-01 through Kourier (`acme`); plain HTTP
    stays served on port 80 for the HTTP-01 challenges (decision 0031). Point a wildcard record *.<namespace>.<domain> (or the two names)
    at the Kourier LoadBalancer's address first. null (default; every laptop cluster): no
    ClusterIssuer, no certificate, plain HTTP on `knative_domain`. Lowercase, at least two labels.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.domain == null || can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.domain))
    error_message = "domain must be a lowercase DNS name with at least two labels (for example taskpulse.example.org), without a scheme, port, trailing dot or wildcard."
  }
  validation {
    condition     = try(length(var.domain) <= 200, true)
    error_message = "domain must be at most 200 characters (the hosts add <service>.<namespace>. to it)."
  }
  validation {
    condition     = var.domain == null || (var.components.cert_manager && var.components.knative)
    error_message = "domain needs components.cert_manager and components.knative: the certificates come from cert-manager through Knative's cert-manager integration."
  }
}

variable "acme" {
  description = <<-EOT
    Let's Encrypt, used only when `domain` is set. Both ClusterIssuers are made,
    `letsencrypt-staging` and `letsencrypt-production`, solving HTTP-01 through Kourier;
    `issuer` names the one Knative's certificates use ("staging" while you check DNS and the
    rate limits do not matter, then "production"). `email`: the ACME account's contact
    (expiry notices), required with a domain.
  EOT
  type = object({
    email  = optional(string)
    issuer = optional(string, "staging")
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["staging", "production"], var.acme.issuer)
    error_message = "acme.issuer must be \"staging\" or \"production\"."
  }
  validation {
    condition     = var.acme.email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", coalesce(var.acme.email, "x")))
    error_message = "acme.email must be an e-mail address."
  }
  validation {
    condition     = var.domain == null || var.acme.email != null
    error_message = "acme.email is required when domain is set (Let's Encrypt's account contact)."
  }
}

variable "monitoring" {
  description = "kube-prometheus-stack settings."
  type = object({
    retention       = optional(string, "7d")
    storage_size    = optional(string, "20Gi")
    grafana_enabled = optional(bool, true)
  })
  default = {}

  validation {
    condition     = can(regex("^[0-9]+(h|d|w)$", var.monitoring.retention))
    error_message = "monitoring.retention must look like 12h, 7d or 2w."
  }
}

variable "centrifugo_allowed_origins" {
  description = <<-EOT
    Origins (scheme://host[:port], no path) of the web apps allowed to open a Centrifugo
    WebSocket (Centrifugo v6 client.allowed_origins; a `*` inside a host is a pattern, as in
    https://*.example.org). https only, and no bare "*", unless environment = "local". null
    (default): ["http://localhost:3000"] on "local"; none elsewhere, so a browser is refused
    until you name your app's origin (clients without an Origin header still connect).
  EOT
  type        = list(string)
  default     = null

  validation {
    condition = var.centrifugo_allowed_origins == null || alltrue([
      for o in var.centrifugo_allowed_origins == null ? [] : var.centrifugo_allowed_origins :
      o == "*" || can(regex("^https?://[a-z0-9*]([-a-z0-9*.]*[a-z0-9])?(:[0-9]{1,5})?$", o))
    ])
    error_message = "centrifugo_allowed_origins: each origin is scheme://host[:port] in lowercase, without a path or trailing slash (for example https://app.example.org)."
  }
  validation {
    condition = var.environment == "local" || var.centrifugo_allowed_origins == null || alltrue([
      for o in var.centrifugo_allowed_origins == null ? [] : var.centrifugo_allowed_origins : startswith(o, "https://")
    ])
    error_message = "centrifugo_allowed_origins: only https:// origins (and no \"*\") unless environment = \"local\"."
  }
}

variable "deployer_subjects" {
  description = "Subjects (users, groups or service accounts) allowed to deploy the functions (Knative services) in the namespace, and nothing more."
  type = list(object({
    kind      = string
    name      = string
    namespace = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.deployer_subjects : contains(["User", "Group", "ServiceAccount"], s.kind)])
    error_message = "deployer_subjects kind must be User, Group or ServiceAccount."
  }
}

# --- identity: the OpenID Connect issuer whose access tokens create-task and Centrifugo accept --

variable "oidc_issuer" {
  description = <<-EOT
    The OpenID Connect issuer of the users' access tokens: exactly their `iss` claim (a
    trailing slash is part of it), with discovery at `<issuer>/.well-known/openid-configuration`.
    create-task reads it as OIDC_ISSUER; Centrifugo checks it as client.token.issuer. Entra ID:
    `https://login.microsoftonline.com/<tenant-id>/v2.0`. Must be https unless environment is
    "local".
  EOT
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https?://[^/?#[:space:]]+(/[^?#[:space:]]*)?$", var.oidc_issuer))
    error_message = "oidc_issuer must be an absolute http(s) URL without query, fragment or whitespace: the iss claim of the tokens."
  }
  validation {
    condition     = var.environment == "local" || startswith(var.oidc_issuer, "https://")
    error_message = "oidc_issuer must use https outside a laptop cluster (environment = \"aks\"): the keys that sign users' tokens cannot come over plain HTTP."
  }
}

variable "oidc_audience" {
  description = "The `aud` that access tokens must carry (OIDC_AUDIENCE; Centrifugo's client.token.audience). Entra ID v2.0 tokens carry the API app registration's application (client) id; v1.0 tokens its `api://...` Application ID URI."
  type        = string
  default     = "taskpulse"
  nullable    = false

  validation {
    condition     = can(regex("^[^[:space:]]{1,255}$", var.oidc_audience))
    error_message = "oidc_audience must be 1 to 255 characters without whitespace."
  }
}

variable "oidc_user_claim" {
  description = "The claim that names the user (OIDC_USER_CLAIM; Centrifugo's client.token.user_id_claim, so that a connection's user is the user of `tasks:user#<user>`). `sub` for most issuers; `oid` on Entra ID (the user's object id, the same for every application of the tenant; Entra's `sub` differs per application)."
  type        = string
  default     = "sub"
  nullable    = false

  validation {
    # A top-level claim name: Centrifugo reads user_id_claim as a GJSON path, where . * ? | # @ mean more.
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_-]{0,63}$", var.oidc_user_claim))
    error_message = "oidc_user_claim must be a top-level claim name (letters, digits, _ and -, at most 64 characters), such as sub or oid."
  }
}

variable "oidc_service_scope" {
  description = "The scope that marks a trusted backend, which may act for the user named in a command's data.user_id (OIDC_SERVICE_SCOPE)."
  type        = string
  default     = "taskpulse.service"
  nullable    = false

  validation {
    # RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    condition     = can(regex("^[!#-\\[\\]-~]{1,255}$", var.oidc_service_scope))
    error_message = "oidc_service_scope must be one OAuth 2 scope token (RFC 6749 3.3: printable ASCII without space, \" or \\)."
  }
}

variable "oidc_jwks_url" {
  description = <<-EOT
    Where the issuer's signing keys are (JWKS). null: create-task finds them through discovery.
    When set, create-task reads them here (OIDC_JWKS_URL) instead; Centrifugo always needs it
    with centrifugo_token_verification = "jwks", as it does no discovery. On a laptop cluster
    it is also how pods reach an issuer that tokens name by a host-only address (127.0.0.1).
    Must be https unless environment is "local".
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.oidc_jwks_url == null || can(regex("^https?://[^/?#[:space:]]+(/[^#[:space:]]*)?$", var.oidc_jwks_url))
    error_message = "oidc_jwks_url must be an absolute http(s) URL."
  }
  validation {
    condition     = var.oidc_jwks_url == null || var.environment == "local" || startswith(coalesce(var.oidc_jwks_url, "https://"), "https://")
    error_message = "oidc_jwks_url must use https outside a laptop cluster (environment = \"aks\")."
  }
}

variable "centrifugo_token_verification" {
  description = <<-EOT
    How Centrifugo verifies client connection tokens. "jwks": the users' access tokens from
    oidc_issuer, checked against oidc_jwks_url with issuer, audience and the user claim (a
    browser connects with the token it already has). "hmac": tokens that the deployment's own
    backend mints with the `token-hmac-secret-key` of the Secret `centrifugo` (HS256, the user in
    `sub`). Centrifugo v6 takes one or the other: with a JWKS endpoint it ignores the HMAC key.
  EOT
  type        = string
  default     = "jwks"
  nullable    = false

  validation {
    condition     = contains(["jwks", "hmac"], var.centrifugo_token_verification)
    error_message = "centrifugo_token_verification must be jwks or hmac."
  }
  validation {
    condition     = !var.components.centrifugo || var.centrifugo_token_verification != "jwks" || var.oidc_jwks_url != null
    error_message = "centrifugo_token_verification = \"jwks\" needs oidc_jwks_url: Centrifugo takes the JWKS address itself and does not read the issuer's discovery document."
  }
}

variable "network_policies" {
  description = <<-EOT
    NetworkPolicies of the functions' namespace (network.tf, decision 0026): deny in and out,
    then allow what each workload needs. A NetworkPolicy names addresses, not hosts: what
    lives outside the cluster is given as CIDRs (default anywhere, on the one port only).
    `database`: PostgreSQL's port and CIDRs (its VNet subnet on AKS), or the namespace it runs
    in when it is in the cluster; `entra` (null: on with environment "aks") lets the functions
    fetch their workload-identity token from Entra ID on 443. `smtp`: send-reminder's relay.
    `https_cidrs`: where the OIDC issuer (its port) and Entra ID are. `kafka_cidrs`: an
    external Kafka (kafka.mode "external"; in-cluster brokers are selected by their labels).
    `redis_cidrs`: an external Redis of Centrifugo (centrifugo_redis.address).
  EOT
  type = object({
    enabled = optional(bool, true)
    database = optional(object({
      port      = optional(number, 5432)
      cidrs     = optional(list(string), ["0.0.0.0/0"])
      namespace = optional(string)
      entra     = optional(bool)
    }), {})
    smtp = optional(object({
      port  = optional(number, 587)
      cidrs = optional(list(string), ["0.0.0.0/0"])
    }), {})
    https_cidrs = optional(list(string), ["0.0.0.0/0"])
    kafka_cidrs = optional(list(string), ["0.0.0.0/0"])
    redis_cidrs = optional(list(string), ["0.0.0.0/0"])
  })
  default  = {}
  nullable = false

  validation {
    condition = alltrue([for c in concat(
      var.network_policies.database.cidrs, var.network_policies.smtp.cidrs,
      var.network_policies.https_cidrs, var.network_policies.kafka_cidrs,
      var.network_policies.redis_cidrs,
    ) : can(cidrnetmask(c))])
    error_message = "network_policies: every CIDR must be an IPv4 CIDR such as 10.0.0.0/16 or 0.0.0.0/0."
  }
  validation {
    condition     = var.network_policies.database.port >= 1 && var.network_policies.database.port <= 65535 && var.network_policies.smtp.port >= 1 && var.network_policies.smtp.port <= 65535
    error_message = "network_policies: ports must be between 1 and 65535."
  }
}
