// Command keda-validate admits ScaledObjects and TriggerAuthentications the way KEDA's
// admission webhook does, without a cluster, and builds the Kafka scaler of each admitted
// Kafka trigger the way KEDA's operator does.
//
//   - decode: the object is decoded strictly into KEDA's Go type (an unknown field is
//     refused, as the API server does with field validation Strict);
//   - webhook: the object is sent, as an AdmissionReview for a create, to the handler that
//     KEDA's own SetupWebhookWithManager registers (apis/keda/v1alpha1), over a manager whose
//     client is controller-runtime's fake client holding the objects admitted before it, and
//     whose REST mapper knows apps/v1 Deployments: ValidateCreate runs every check of the
//     webhook (verifyScaledObjects, verifyHpas, verifyReplicaCount, verifyFallback,
//     verifyName, verifyTriggers, verifyCPUMemoryScalers; TriggerAuthentication's validateSpec);
//   - scaler: for each Kafka trigger of an admitted ScaledObject, its authenticationRef is
//     resolved against the TriggerAuthentications in the input and the Secret values given
//     (-secrets; a value "@generated-ca" becomes a freshly generated CA certificate), and
//     scalers.NewKafkaScaler parses the metadata (parseKafkaMetadata and its Validate). With
//     no broker to reach, the scaler then fails to connect: an error from the client
//     ("error creating kafka client") means the metadata was accepted; any earlier error
//     ("error parsing kafka metadata", "error getting kafka client config", "error getting
//     scaler metric type") is a refusal.
//
// -version prints the github.com/kedacore/keda/v2 version it was built with.
//
// Input (stdin): a JSON array of objects. Output (stdout): a JSON array with one result per
// object, in order (TriggerAuthentications are admitted before ScaledObjects).
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

const (
	scaledObjectPath          = "/validate-keda-sh-v1alpha1-scaledobject"
	triggerAuthenticationPath = "/validate-keda-sh-v1alpha1-triggerauthentication"
	generatedCA               = "@generated-ca"
)

type triggerResult struct {
	Name     string `json:"name,omitempty"`
	Type     string `json:"type"`
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
	// Detail is the connection error of an accepted trigger: how far the scaler got.
	Detail string `json:"detail,omitempty"`
}

type result struct {
	Kind      string          `json:"kind,omitempty"`
	Name      string          `json:"name,omitempty"`
	Namespace string          `json:"namespace,omitempty"`
	Allowed   bool            `json:"allowed"`
	Stage     string          `json:"stage,omitempty"`
	Error     string          `json:"error,omitempty"`
	Warnings  []string        `json:"warnings,omitempty"`
	Triggers  []triggerResult `json:"triggers,omitempty"`
}

// fakeManager is what SetupWebhookWithManager asks of a manager; anything else panics.
type fakeManager struct {
	manager.Manager
	client client.Client
	mapper meta.RESTMapper
	scheme *runtime.Scheme
	server webhook.Server
}

func (m *fakeManager) GetClient() client.Client                       { return m.client }
func (m *fakeManager) GetRESTMapper() meta.RESTMapper                 { return m.mapper }
func (m *fakeManager) GetScheme() *runtime.Scheme                     { return m.scheme }
func (m *fakeManager) GetWebhookServer() webhook.Server               { return m.server }
func (m *fakeManager) GetConfig() *rest.Config                        { return &rest.Config{} }
func (m *fakeManager) GetEventRecorder(_ string) events.EventRecorder { return nil }

func main() {
	secretsPath := flag.String("secrets", "", "JSON file: Secret name -> key -> value, for authenticationRef")
	version := flag.Bool("version", false, "print the github.com/kedacore/keda/v2 version built in, and exit")
	flag.Parse()
	if *version {
		fmt.Println(kedaVersion())
		return
	}
	secrets := map[string]map[string]string{}
	if *secretsPath != "" {
		raw, err := os.ReadFile(*secretsPath)
		if err == nil {
			err = json.Unmarshal(raw, &secrets)
		}
		if err != nil {
			fail("reading -secrets: %v", err)
		}
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var objects []json.RawMessage
	if err := json.Unmarshal(input, &objects); err != nil {
		fail("stdin is not a JSON array: %v", err)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(kedav1alpha1.AddToScheme(scheme))
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, meta.RESTScopeNamespace)
	mapper.Add(kedav1alpha1.SchemeGroupVersion.WithKind("ScaledObject"), meta.RESTScopeNamespace)
	mapper.Add(kedav1alpha1.SchemeGroupVersion.WithKind("TriggerAuthentication"), meta.RESTScopeNamespace)
	cluster := fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).Build()
	mgr := &fakeManager{
		client: cluster,
		mapper: mapper,
		scheme: scheme,
		server: webhook.NewServer(webhook.Options{}),
	}
	if err := (&kedav1alpha1.ScaledObject{}).SetupWebhookWithManager(mgr, false); err != nil {
		fail("KEDA's ScaledObject webhook: %v", err)
	}
	if err := (&kedav1alpha1.TriggerAuthentication{}).SetupWebhookWithManager(mgr); err != nil {
		fail("KEDA's TriggerAuthentication webhook: %v", err)
	}

	results := make([]result, len(objects))
	auths := map[string]*kedav1alpha1.TriggerAuthentication{}
	// TriggerAuthentications first, as `kubectl apply` of a kustomization orders them.
	for _, pass := range []string{"TriggerAuthentication", "ScaledObject"} {
		for i, raw := range objects {
			var head metav1.TypeMeta
			_ = json.Unmarshal(raw, &head)
			if head.Kind != pass && !(pass == "ScaledObject" && head.Kind != "TriggerAuthentication") {
				continue
			}
			results[i] = admit(mgr, raw, head, auths, secrets)
		}
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(results); err != nil {
		fail("writing the results: %v", err)
	}
}

func admit(
	mgr *fakeManager, raw json.RawMessage, head metav1.TypeMeta,
	auths map[string]*kedav1alpha1.TriggerAuthentication, secrets map[string]map[string]string,
) result {
	var obj client.Object
	var path string
	switch {
	case head.Kind == "ScaledObject" && head.APIVersion == kedav1alpha1.SchemeGroupVersion.String():
		obj, path = &kedav1alpha1.ScaledObject{}, scaledObjectPath
	case head.Kind == "TriggerAuthentication" && head.APIVersion == kedav1alpha1.SchemeGroupVersion.String():
		obj, path = &kedav1alpha1.TriggerAuthentication{}, triggerAuthenticationPath
	default:
		return result{Kind: head.Kind, Stage: "kind", Error: fmt.Sprintf("not a keda.sh/v1alpha1 ScaledObject or TriggerAuthentication: %s %s", head.APIVersion, head.Kind)}
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(obj); err != nil {
		return result{Kind: head.Kind, Stage: "decode", Error: err.Error()}
	}
	res := result{Kind: head.Kind, Name: obj.GetName(), Namespace: obj.GetNamespace()}

	dryRun := false
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("keda-validate"),
			Kind:      metav1.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: head.Kind},
			Resource:  metav1.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: strings.ToLower(head.Kind) + "s"},
			Name:      obj.GetName(),
			Namespace: obj.GetNamespace(),
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "kubernetes-admin"},
			Object:    runtime.RawExtension{Raw: raw},
			DryRun:    &dryRun,
		},
	}
	body, _ := json.Marshal(review)
	handler, _ := mgr.server.WebhookMux().Handler(&http.Request{URL: &url.URL{Path: path}})
	recorder := httptest.NewRecorder()
	request := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	handler.ServeHTTP(recorder, request)
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(recorder.Body.Bytes(), &answer); err != nil || answer.Response == nil {
		res.Stage, res.Error = "webhook", fmt.Sprintf("no AdmissionReview answer (HTTP %d): %s", recorder.Code, recorder.Body.String())
		return res
	}
	res.Warnings = answer.Response.Warnings
	if !answer.Response.Allowed {
		res.Stage = "webhook"
		if answer.Response.Result != nil {
			res.Error = answer.Response.Result.Message
		}
		return res
	}
	// Admitted: the API server now holds it, and the next objects are checked against it.
	if err := mgr.client.Create(context.Background(), obj); err != nil {
		res.Stage, res.Error = "store", err.Error()
		return res
	}

	switch typed := obj.(type) {
	case *kedav1alpha1.TriggerAuthentication:
		auths[typed.Namespace+"/"+typed.Name] = typed
		res.Allowed = true
	case *kedav1alpha1.ScaledObject:
		res.Allowed = true
		for index, trigger := range typed.Spec.Triggers {
			checked := checkTrigger(typed, index, trigger, auths, secrets)
			res.Triggers = append(res.Triggers, checked)
			if !checked.Accepted {
				res.Allowed = false
				res.Stage = "scaler"
				res.Error = fmt.Sprintf("trigger %d (%s): %s", index, trigger.Type, checked.Error)
			}
		}
	}
	return res
}

// checkTrigger builds the trigger's scaler as KEDA's operator does (pkg/scaling resolver:
// authenticationRef's secretTargetRef parameters become AuthParams).
func checkTrigger(
	so *kedav1alpha1.ScaledObject, index int, trigger kedav1alpha1.ScaleTriggers,
	auths map[string]*kedav1alpha1.TriggerAuthentication, secrets map[string]map[string]string,
) triggerResult {
	checked := triggerResult{Name: trigger.Name, Type: trigger.Type}
	if trigger.Type != "kafka" {
		checked.Error = "keda-validate builds only Kafka scalers"
		return checked
	}
	authParams := map[string]string{}
	if ref := trigger.AuthenticationRef; ref != nil {
		if ref.Kind != "" && ref.Kind != "TriggerAuthentication" {
			checked.Error = fmt.Sprintf("authenticationRef kind %q: only TriggerAuthentication is resolved here", ref.Kind)
			return checked
		}
		auth, ok := auths[so.Namespace+"/"+ref.Name]
		if !ok {
			checked.Error = fmt.Sprintf("authenticationRef: no admitted TriggerAuthentication %s/%s", so.Namespace, ref.Name)
			return checked
		}
		for _, target := range auth.Spec.SecretTargetRef {
			value, ok := secrets[target.Name][target.Key]
			if !ok {
				checked.Error = fmt.Sprintf("TriggerAuthentication %s: secret %s has no key %q", auth.Name, target.Name, target.Key)
				return checked
			}
			if value == generatedCA {
				value = caPEM()
			}
			authParams[target.Parameter] = value
		}
	}
	config := &scalersconfig.ScalerConfig{
		ScalableObjectName:      so.Name,
		ScalableObjectNamespace: so.Namespace,
		ScalableObjectType:      "ScaledObject",
		GlobalHTTPTimeout:       3 * time.Second,
		TriggerName:             trigger.Name,
		TriggerType:             trigger.Type,
		TriggerUseCachedMetrics: trigger.UseCachedMetrics,
		TriggerMetadata:         trigger.Metadata,
		ResolvedEnv:             map[string]string{},
		AuthParams:              authParams,
		TriggerIndex:            index,
		TriggerUniqueKey:        fmt.Sprintf("%s-%s-%d", so.Namespace, so.Name, index),
		MetricType:              trigger.MetricType,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	scaler, err := scalers.NewKafkaScaler(ctx, config)
	switch {
	case err == nil:
		_ = scaler.Close(ctx)
		checked.Accepted = true
	case strings.HasPrefix(err.Error(), "error creating kafka client") ||
		strings.HasPrefix(err.Error(), "error creating kafka admin"):
		// Past parsing and client configuration: only the broker is missing.
		checked.Accepted = true
		checked.Detail = err.Error()
	default:
		checked.Error = err.Error()
	}
	return checked
}

var ca string

func caPEM() string {
	if ca != "" {
		return ca
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("generating a CA key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keda-validate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		fail("generating a CA certificate: %v", err)
	}
	ca = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return ca
}

func kedaVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == "github.com/kedacore/keda/v2" {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "keda-validate: "+format+"\n", args...)
	os.Exit(2)
}
