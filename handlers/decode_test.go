package handlers_test

import (
	"net/http"
	"regexp"
	"testing"
)

// TestDecodeErrorsAreSentences: what the JSON decoder refuses is answered
// in words that name the field, never in the decoder's or Go's terms
// (`field "x" must be of type int`, `json: unknown field`).
func TestDecodeErrorsAreSentences(t *testing.T) {
	goTerms := regexp.MustCompile(`json:|of type|\bint\b|\bbool\b|\bstring\b|float64|\[\]|models\.|handlers\.`)
	for _, tc := range []struct {
		name, path, given, expectCode, expectMessage string
	}{
		{"text for a number", "/api/v1/settings", `{"autoOfflineMinutes":"ten"}`,
			"invalid_field", "autoOfflineMinutes: must be a whole number"},
		{"a fraction for a number", "/api/v1/settings", `{"autoOfflineMinutes":1.5}`,
			"invalid_field", "autoOfflineMinutes: must be a whole number"},
		{"text for a switch", "/api/v1/me/status", `{"online":"yes","scope":"all"}`,
			"invalid_field", "online: must be true or false"},
		{"a number for text", "/api/v1/me/status", `{"online":true,"scope":1}`,
			"invalid_field", "scope: must be text in quotes"},
		{"an object for a list", "/api/v1/me/schedule", `{"timezone":"UTC","enabled":true,"rules":{}}`,
			"invalid_field", "rules: must be a list"},
		{"unknown field", "/api/v1/me/status", `{"online":true,"color":"red"}`,
			"invalid_field", "color: is not a field of this request"},
		{"a list for the body", "/api/v1/settings", `[1]`, "invalid_json", "The body must be a JSON object."},
		{"not JSON", "/api/v1/settings", `{"autoOfflineMinutes":`, "invalid_json", "The body is not valid JSON."},
		{"two objects", "/api/v1/settings", `{"autoOfflineMinutes":5} {}`, "invalid_json", "The body must hold exactly one JSON object."},
		{"empty", "/api/v1/settings", ``, "invalid_json", "A JSON body is required."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newHarness(t).seedTenant(t)
			code, got := env.callWithContextToken(t, http.MethodPut, tc.path, "acc-1", tc.given)
			e, _ := got["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if code != http.StatusBadRequest || e["code"] != tc.expectCode || msg != tc.expectMessage {
				t.Fatalf("got %d %v, want 400 %s %q", code, got, tc.expectCode, tc.expectMessage)
			}
			if goTerms.MatchString(msg) {
				t.Fatalf("the message speaks Go: %q", msg)
			}
		})
	}
}
