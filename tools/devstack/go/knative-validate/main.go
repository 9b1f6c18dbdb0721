// Command knative-validate admits Knative Services the way Knative Serving's webhook does,
// without a cluster: the webhook's JSON decode, SetDefaults and Validate in the webhook's
// context (config.ToContext with the cluster's feature flags and autoscaler defaults,
// apis.WithinCreate, the requesting user), and on request the Pod that the revision
// reconciler would create for each admitted Service (resources.MakeDeployment, which builds
// the user containers and the queue-proxy through resources.BuildPodSpec).
//
// -version prints the knative.dev/serving version it was built with.
//
// Input (stdin): a JSON array of objects. Configuration (-config): a JSON object whose keys
// are the Knative ConfigMaps as KnativeServing.spec.config names them ("features",
// "autoscaler", "defaults", "deployment", "network", "observability", "logging"), each a map
// of strings. Output (stdout): a JSON array with one result per object, in order.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	netcfg "knative.dev/networking/pkg/config"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/logging"
	webhookjson "knative.dev/pkg/webhook/json"
	apiconfig "knative.dev/serving/pkg/apis/config"
	v1 "knative.dev/serving/pkg/apis/serving/v1"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/deployment"
	"knative.dev/serving/pkg/observability"
	cfgresources "knative.dev/serving/pkg/reconciler/configuration/resources"
	revconfig "knative.dev/serving/pkg/reconciler/revision/config"
	revresources "knative.dev/serving/pkg/reconciler/revision/resources"
	svcresources "knative.dev/serving/pkg/reconciler/service/resources"
)

// queueImagePlaceholder stands in for the queue-proxy image the operator writes into
// config-deployment (the release's digest); admission checks do not look at it.
const queueImagePlaceholder = "gcr.io/knative-releases/knative.dev/serving/cmd/queue:placeholder"

type result struct {
	Kind      string      `json:"kind,omitempty"`
	Name      string      `json:"name,omitempty"`
	Namespace string      `json:"namespace,omitempty"`
	Allowed   bool        `json:"allowed"`
	Stage     string      `json:"stage,omitempty"`
	Error     string      `json:"error,omitempty"`
	Warnings  []string    `json:"warnings,omitempty"`
	Defaulted *v1.Service `json:"defaulted,omitempty"`
	Pod       *corev1.Pod `json:"pod,omitempty"`
}

type configMaps map[string]map[string]string

func main() {
	configPath := flag.String("config", "", "JSON file: KnativeServing.spec.config (ConfigMap name -> data)")
	user := flag.String("user", "kubernetes-admin", "the user the API server reports to the webhook")
	pods := flag.Bool("pods", false, "emit the Pod Knative would create for each admitted Service")
	defaulted := flag.Bool("defaulted", false, "emit each admitted Service as defaulted")
	version := flag.Bool("version", false, "print the knative.dev/serving version built in, and exit")
	flag.Parse()

	if *version {
		fmt.Println(servingVersion())
		return
	}

	// The queue-proxy's environment names Knative's namespace (system.Namespace): the
	// chart's KnativeServing lives in knative-serving.
	if os.Getenv("SYSTEM_NAMESPACE") == "" {
		_ = os.Setenv("SYSTEM_NAMESPACE", "knative-serving")
	}

	maps := configMaps{}
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err == nil {
			err = json.Unmarshal(data, &maps)
		}
		if err != nil {
			fail("reading -config: %v", err)
		}
	}
	cfg, err := buildConfig(maps)
	if err != nil {
		fail("the configuration is refused as Knative's config validation would: %v", err)
	}

	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var objects []json.RawMessage
	if err := json.Unmarshal(input, &objects); err != nil {
		fail("stdin must be a JSON array of objects: %v", err)
	}

	ctx := logging.WithLogger(context.Background(), zap.NewNop().Sugar())
	ctx = apiconfig.ToContext(ctx, cfg.Config)
	ctx = apis.WithUserInfo(ctx, &authenticationv1.UserInfo{Username: *user})
	ctx = apis.WithinCreate(ctx)

	results := make([]result, 0, len(objects))
	for _, raw := range objects {
		results = append(results, admit(ctx, cfg, raw, *pods, *defaulted))
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(results); err != nil {
		fail("writing results: %v", err)
	}
}

// servingVersion is the knative.dev/serving module this binary was built with.
func servingVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "knative.dev/serving" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "knative-validate: "+format+"\n", args...)
	os.Exit(2)
}

// buildConfig parses each ConfigMap with Knative's own constructors, as its stores do.
func buildConfig(maps configMaps) (*revconfig.Config, error) {
	features, err := apiconfig.NewFeaturesConfigFromMap(maps["features"])
	if err != nil {
		return nil, fmt.Errorf("config-features: %w", err)
	}
	defaults, err := apiconfig.NewDefaultsConfigFromMap(maps["defaults"])
	if err != nil {
		return nil, fmt.Errorf("config-defaults: %w", err)
	}
	autoscaler, err := asconfig.NewConfigFromMap(maps["autoscaler"])
	if err != nil {
		return nil, fmt.Errorf("config-autoscaler: %w", err)
	}
	deploymentMap := map[string]string{deployment.QueueSidecarImageKey: queueImagePlaceholder}
	for k, v := range maps["deployment"] {
		deploymentMap[k] = v
	}
	dep, err := deployment.NewConfigFromMap(deploymentMap)
	if err != nil {
		return nil, fmt.Errorf("config-deployment: %w", err)
	}
	network, err := netcfg.NewConfigFromMap(maps["network"])
	if err != nil {
		return nil, fmt.Errorf("config-network: %w", err)
	}
	obs, err := observability.NewFromMap(maps["observability"])
	if err != nil {
		return nil, fmt.Errorf("config-observability: %w", err)
	}
	logs, err := logging.NewConfigFromMap(maps["logging"])
	if err != nil {
		return nil, fmt.Errorf("config-logging: %w", err)
	}
	return &revconfig.Config{
		Config:        &apiconfig.Config{Defaults: defaults, Features: features, Autoscaler: autoscaler},
		Deployment:    dep,
		Logging:       logs,
		Network:       network,
		Observability: obs,
	}, nil
}

func refused(r result, stage string, err error) result {
	r.Allowed, r.Stage, r.Error = false, stage, err.Error()
	return r
}

func admit(ctx context.Context, cfg *revconfig.Config, raw json.RawMessage, pods, defaulted bool) result {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &head)
	r := result{Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace}
	if head.APIVersion != v1.SchemeGroupVersion.String() || head.Kind != "Service" {
		return refused(r, "kind", fmt.Errorf("unhandled kind: %s %s", head.APIVersion, head.Kind))
	}

	// The defaulting webhook (webhook.serving.knative.dev, /defaulting). The webhook itself
	// decodes leniently (its CRDs have schemas), so a misspelt field is pruned by the API
	// server or ignored by the decode: dropped without a word. Decoding strictly here turns
	// it into a refusal.
	svc := &v1.Service{}
	if err := webhookjson.Decode(raw, svc, true); err != nil {
		return refused(r, "decode", fmt.Errorf("cannot decode incoming new object: %w", err))
	}
	svc.SetDefaults(ctx)

	// The validating webhook (validation.webhook.serving.knative.dev) sees the defaulted
	// object, as the API server hands it over after the mutation.
	patched, err := json.Marshal(svc)
	if err != nil {
		return refused(r, "decode", err)
	}
	svc = &v1.Service{}
	if err := webhookjson.Decode(patched, svc, false); err != nil {
		return refused(r, "decode", fmt.Errorf("cannot decode incoming new object: %w", err))
	}
	if fieldErr := svc.Validate(ctx); fieldErr != nil {
		if warnings := fieldErr.Filter(apis.WarningLevel); warnings != nil {
			for _, w := range warnings.WrappedErrors() {
				r.Warnings = append(r.Warnings, w.Error())
			}
		}
		if errs := fieldErr.Filter(apis.ErrorLevel); errs != nil {
			return refused(r, "validate", fmt.Errorf("validation failed: %w", errs))
		}
	}
	r.Allowed = true
	if defaulted {
		r.Defaulted = svc
	}
	if pods {
		pod, err := podFor(ctx, cfg, svc)
		if err != nil {
			return refused(r, "pod", err)
		}
		r.Pod = pod
	}
	return r
}

// podFor follows the controllers: Service -> Configuration -> Revision (defaulted by the
// webhook when the controller creates it) -> Deployment, whose Pod template is the Pod.
func podFor(ctx context.Context, cfg *revconfig.Config, svc *v1.Service) (*corev1.Pod, error) {
	configuration := svcresources.MakeConfiguration(svc)
	configuration.Generation = 1
	rev := cfgresources.MakeRevision(ctx, configuration, time.Unix(0, 0).UTC())
	rev.SetDefaults(ctx)
	if err := rev.Validate(ctx); err != nil {
		if errs := err.Filter(apis.ErrorLevel); errs != nil {
			return nil, fmt.Errorf("revision %s refused: %w", rev.Name, errs)
		}
	}
	d, err := revresources.MakeDeployment(rev, cfg)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
	}
	template := d.Spec.Template
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        d.Name + "-0",
			Namespace:   d.Namespace,
			Labels:      template.Labels,
			Annotations: template.Annotations,
		},
		Spec: template.Spec,
	}, nil
}
