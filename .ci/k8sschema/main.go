// Command k8sschema writes the JSON schemas kubeconform validates Kubernetes
// manifests with, from the OpenAPI v2 document that the k8s.io/kubernetes
// module ships (api/openapi-spec/swagger.json). CI reaches only the Go
// module proxy, not the usual schema downloads, and the proxy serves that
// module.
//
// It does what kubeconform's openapi2jsonschema does for the schemas it
// publishes, strict variant:
//
//   - every object schema with properties and no additionalProperties gets
//     additionalProperties: false, so an unknown or misspelt field fails;
//   - format int-or-string becomes oneOf string or integer, and a quantity
//     (resource.Quantity) string or number, as the API server accepts them;
//   - each definition with an x-kubernetes-group-version-kind is written as
//     KIND-GROUP-VERSION.json (KIND-VERSION.json for the core group), the
//     names kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json template
//     asks for.
//
// The definitions go once into _definitions.json, which each kind's file
// points into with $ref (kubeconform resolves it on the file system),
// rather than being inlined into every kind: a few megabytes instead of the
// hundreds that standalone schemas for every kind take.
//
//	go run ./.ci/k8sschema -src .../api/openapi-spec/swagger.json -out DIR
//	kubeconform -strict -schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json' ...
//
// Standard library only, so it adds nothing to go.mod.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	src := flag.String("src", "", "the OpenAPI v2 document (k8s.io/kubernetes's api/openapi-spec/swagger.json)")
	out := flag.String("out", "", "directory to write the schemas to (created)")
	minKinds := flag.Int("min", 100, "fail if fewer kinds are found: a sign of a wrong -src or a changed layout")
	flag.Parse()
	if *src == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	raw, err := os.ReadFile(*src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
	files, err := convert(raw)
	if err == nil && len(files)-1 < *minKinds {
		err = fmt.Errorf("only %d kinds in %s (want at least %d)", len(files)-1, *src, *minKinds)
	}
	if err == nil {
		err = write(*out, files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
	fmt.Printf("k8sschema: %d kinds written to %s\n", len(files)-1, *out)
}

// definitionsFile holds every definition; the kinds' files point into it.
const definitionsFile = "_definitions.json"

// quantity is the definition of resource quantities ("100m", "64Mi", 2).
const quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"

// convert turns an OpenAPI v2 document into schema files by name.
func convert(raw []byte) (map[string][]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep integers as the document wrote them
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read OpenAPI document: %w", err)
	}
	if len(doc.Definitions) == 0 {
		return nil, errors.New("read OpenAPI document: no definitions")
	}
	for name, def := range doc.Definitions {
		if name == quantity {
			doc.Definitions[name] = oneOf(def, "string", "number")
			continue
		}
		doc.Definitions[name] = strict(def)
	}
	files := map[string][]byte{}
	defs, err := json.Marshal(map[string]any{"definitions": doc.Definitions})
	if err != nil {
		return nil, fmt.Errorf("write definitions: %w", err)
	}
	files[definitionsFile] = defs

	owner := map[string]string{} // file name → definition, to refuse two kinds in one file
	names := make([]string, 0, len(doc.Definitions))
	for name := range doc.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def, _ := doc.Definitions[name].(map[string]any)
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			if kind == "" || version == "" {
				return nil, fmt.Errorf("%s: group-version-kind without kind or version: %v", name, gvk)
			}
			file := fileName(group, version, kind)
			if prev, taken := owner[file]; taken && prev != name {
				// Definitions shared by every group (DeleteOptions,
				// WatchEvent) name group-version-kinds of their own;
				// a real kind is never one of them.
				if shared(prev) || shared(name) {
					if shared(prev) {
						owner[file] = name
					}
					continue
				}
				return nil, fmt.Errorf("%s and %s both want %s", prev, name, file)
			}
			owner[file] = name
		}
	}
	for file, name := range owner {
		stub, err := json.Marshal(map[string]any{
			"$schema": "http://json-schema.org/draft-04/schema#",
			"$ref":    definitionsFile + "#/definitions/" + name,
		})
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", file, err)
		}
		files[file] = stub
	}
	return files, nil
}

// shared tells the meta/v1 definitions that every API group lists as its
// own kind (DeleteOptions, WatchEvent, Status, …).
func shared(name string) bool {
	return strings.HasPrefix(name, "io.k8s.apimachinery.pkg.apis.meta.")
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json: the
// kind in lower case, the first label of the group, the version.
func fileName(group, version, kind string) string {
	name := strings.ToLower(kind)
	if group != "" {
		first, _, _ := strings.Cut(group, ".")
		name += "-" + strings.ToLower(first)
	}
	return name + "-" + strings.ToLower(version) + ".json"
}

// strict walks a schema: objects that list their properties refuse others,
// and int-or-string fields take either.
func strict(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t["format"] == "int-or-string" {
			return oneOf(t, "string", "integer")
		}
		for k, child := range t {
			t[k] = strict(child)
		}
		if _, ok := t["properties"]; ok {
			if _, set := t["additionalProperties"]; !set {
				t["additionalProperties"] = false
			}
		}
		return t
	case []any:
		for i, child := range t {
			t[i] = strict(child)
		}
		return t
	}
	return v
}

// oneOf keeps a schema's description and accepts any of the types.
func oneOf(v any, types ...string) any {
	out := map[string]any{}
	if m, ok := v.(map[string]any); ok {
		if d, ok := m["description"]; ok {
			out["description"] = d
		}
	}
	alts := make([]any, 0, len(types))
	for _, t := range types {
		alts = append(alts, map[string]any{"type": t})
	}
	out["oneOf"] = alts
	return out
}

// write puts the files into dir.
func write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write schemas: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write schemas: %w", err)
		}
	}
	return nil
}
