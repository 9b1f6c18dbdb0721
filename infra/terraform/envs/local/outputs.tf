output "installed" {
  description = "Which components were installed."
  value       = module.platform.installed
}

output "dapr_http_endpoints" {
  description = "DAPR_HTTP_ENDPOINT of each function (its Dapr Shared instance)."
  value       = module.platform.dapr_http_endpoints
}

output "next_steps" {
  description = "What to run next."
  value       = <<-EOT
    Platform installed in context ${var.kube_context}, namespace ${module.platform.namespace}.

    1. Build each function image (see shared notes: func's own builders do not fit
       functions-framework) and push it to ${var.registry}.
    2. Deploy each function by digest (func applies func.yaml's deploy settings):
    %{for f, ep in module.platform.dapr_http_endpoints~}
         kn func deploy --path functions/${f} --namespace ${module.platform.namespace} --image ${var.registry}/${f}@sha256:<digest>
           # env DAPR_HTTP_ENDPOINT=${ep}, tokens from Secret ${f}-dapr-tokens, serviceAccountName ${f}
    %{endfor~}
    3. Reach Knative routes through Kourier (plain HTTP: no public domain here): `minikube tunnel`,
       or on kind `kubectl -n knative-serving port-forward svc/kourier 8080:80`, then
       http://create-task.${module.platform.namespace}.${var.knative_domain == "" ? "example.com" : var.knative_domain}${var.knative_domain == "" ? " (send it as the Host header)" : ""}
    4. Centrifugo's WebSocket: kubectl -n ${module.platform.namespace} port-forward svc/centrifugo 8000:8000
       (its server API is on port 9000, which only push-update's pods may reach)
    5. Tokens: `task up` runs the issuer ${var.oidc_issuer}; `task token -- <user>` prints one.
       Pods fetch its keys from ${local.oidc_jwks_url}: Hydra must listen where the cluster reaches it.
  EOT
}

output "oidc" {
  description = "The OpenID Connect settings create-task (ConfigMap taskpulse-identity) and Centrifugo accept tokens by."
  value       = merge(module.platform.oidc, { centrifugo = module.platform.centrifugo_token_verification })
}
