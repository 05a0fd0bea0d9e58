package handlers_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"agentpresence/handlers"
)

// TestDescriptorLicensing: LICENSING=on sets enableLicensing, off leaves
// it false, and both descriptors validate against the Connect schema.
func TestDescriptorLicensing(t *testing.T) {
	template, err := os.ReadFile("../atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	schema := connectSchema(t)
	for _, on := range []bool{true, false} {
		d, err := handlers.NewDescriptor(template, "https://presence.example.com", "io.example.presence", "Presence", handlers.WithLicensing(on))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			EnableLicensing *bool `json:"enableLicensing"`
		}
		if err := json.Unmarshal(d.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.EnableLicensing == nil || *got.EnableLicensing != on {
			t.Fatalf("licensing %t: enableLicensing %v", on, got.EnableLicensing)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(d.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Fatalf("licensing %t: the descriptor does not validate:\n%v", on, err)
		}
	}
	// A template without the switch is refused rather than served wrong.
	if _, err := handlers.NewDescriptor([]byte(`{"key":"{{key}}"}`), "https://x", "k", "n", handlers.WithLicensing(true)); err == nil {
		t.Fatal("a template without enableLicensing was rendered")
	}
}
