package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFileNameIsKubeconformsTemplate(t *testing.T) {
	for _, tt := range []struct{ group, version, kind, want string }{
		{"", "v1", "Service", "service-v1.json"},
		{"apps", "v1", "Deployment", "deployment-apps-v1.json"},
		{"policy", "v1", "PodDisruptionBudget", "poddisruptionbudget-policy-v1.json"},
		{"networking.k8s.io", "v1", "Ingress", "ingress-networking-v1.json"},
		{"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscaler-autoscaling-v2.json"},
	} {
		if got := fileName(tt.group, tt.version, tt.kind); got != tt.want {
			t.Errorf("%s/%s %s: %s, want %s", tt.group, tt.version, tt.kind, got, tt.want)
		}
	}
}

// A document shaped like Kubernetes's swagger.json: a kind with an
// int-or-string and a quantity field, a nested object, a map, and a meta
// definition that every group lists.
const fixture = `{"definitions": {
  "io.k8s.api.apps.v1.Thing": {
    "type": "object",
    "required": ["spec"],
    "properties": {
      "apiVersion": {"type": "string"},
      "kind": {"type": "string"},
      "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.ThingSpec"}
    },
    "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Thing", "version": "v1"}]
  },
  "io.k8s.api.apps.v1.ThingSpec": {
    "type": "object",
    "properties": {
      "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      "limit": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
      "count": {"type": "integer", "format": "int32"}
    }
  },
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string", "description": "either"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string", "description": "a quantity"},
  "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
    "type": "object",
    "properties": {"kind": {"type": "string"}},
    "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}, {"group": "apps", "kind": "DeleteOptions", "version": "v1"}]
  },
  "io.k8s.api.core.v1.DeleteOptions": {
    "type": "object",
    "properties": {"kind": {"type": "string"}},
    "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}]
  }
}}`

func TestConvertMakesStrictSchemas(t *testing.T) {
	files, err := convert([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	var stub map[string]string
	if err := json.Unmarshal(files["thing-apps-v1.json"], &stub); err != nil {
		t.Fatalf("thing-apps-v1.json: %v (files: %d)", err, len(files))
	}
	if stub["$ref"] != "_definitions.json#/definitions/io.k8s.api.apps.v1.Thing" {
		t.Fatalf("stub %v", stub)
	}
	// A real kind wins over the meta definition that lists it too.
	if err := json.Unmarshal(files["deleteoptions-v1.json"], &stub); err != nil || !strings.HasSuffix(stub["$ref"], "io.k8s.api.core.v1.DeleteOptions") {
		t.Fatalf("deleteoptions-v1.json: %v %v", stub, err)
	}
	if _, ok := files["deleteoptions-apps-v1.json"]; !ok {
		t.Fatal("the meta definition's own group-version-kinds are missing")
	}
	var defs struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(files[definitionsFile], &defs); err != nil {
		t.Fatal(err)
	}
	d := defs.Definitions
	for _, name := range []string{"io.k8s.api.apps.v1.Thing", "io.k8s.api.apps.v1.ThingSpec"} {
		if d[name]["additionalProperties"] != false {
			t.Errorf("%s admits unknown fields: %v", name, d[name])
		}
	}
	labels := d["io.k8s.api.apps.v1.ThingSpec"]["properties"].(map[string]any)["labels"].(map[string]any)
	if ap, _ := labels["additionalProperties"].(map[string]any); ap["type"] != "string" {
		t.Errorf("a map's value schema was replaced: %v", labels)
	}
	for name, want := range map[string]string{
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString": `{"description":"either","oneOf":[{"type":"string"},{"type":"integer"}]}`,
		"io.k8s.apimachinery.pkg.api.resource.Quantity":   `{"description":"a quantity","oneOf":[{"type":"string"},{"type":"number"}]}`,
	} {
		if got, _ := json.Marshal(d[name]); string(got) != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

func TestConvertRefusesTwoKindsInOneFile(t *testing.T) {
	doc := `{"definitions": {
  "io.k8s.api.a.v1.Thing": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Thing", "version": "v1"}]},
  "io.k8s.api.b.v1.Thing": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "apps.example.com", "kind": "Thing", "version": "v1"}]}
}}`
	if _, err := convert([]byte(doc)); err == nil || !strings.Contains(err.Error(), "both want thing-apps-v1.json") {
		t.Fatalf("got %v", err)
	}
	if _, err := convert([]byte(`{"definitions": {}}`)); err == nil {
		t.Fatal("an empty document was accepted")
	}
}
