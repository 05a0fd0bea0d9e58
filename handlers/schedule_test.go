package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	_ "time/tzdata" // schedules need zones whatever the host has
)

// callWithContextToken sends a request to the API as account of the
// seeded tenant, the way our pages do, and decodes the JSON answer.
func (s *seeded) callWithContextToken(t *testing.T, method, path, account, body string) (int, map[string]any) {
	t.Helper()
	r := s.request(t, method, path, s.token(t, account), body)
	var out map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, r.status, r.body, err)
	}
	return r.status, out
}

func TestGetScheduleWithoutOne(t *testing.T) {
	for _, tc := range []struct {
		given, expectZone string
	}{
		{"?tz=Europe/Warsaw", "Europe/Warsaw"},
		{"?tz=America/New_York", "America/New_York"},
		{"?tz=Mars/Olympus_Mons", "UTC"},
		{"?tz=Local", "UTC"},
		{"", "UTC"},
	} {
		t.Run(tc.given, func(t *testing.T) {
			env := newHarness(t).seedTenant(t)
			code, got := env.callWithContextToken(t, http.MethodGet, "/api/v1/me/schedule"+tc.given, "acc-1", "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %v", code, got)
			}
			if got["timezone"] != tc.expectZone || got["enabled"] != false {
				t.Fatalf("got %v, want a disabled schedule in %s", got, tc.expectZone)
			}
			for _, k := range []string{"rules", "exceptions", "nextSwitches"} {
				if l, ok := got[k].([]any); !ok || len(l) != 0 {
					t.Fatalf("%s = %#v, want []", k, got[k])
				}
			}
		})
	}
}

func TestPutScheduleSavesAndPreviews(t *testing.T) {
	env := newHarness(t).seedTenant(t) // Wednesday 2026-11-25 09:00 UTC, 10:00 in Warsaw
	body := `{"timezone":"Europe/Warsaw","enabled":true,
	  "rules":[{"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:00"}],
	  "exceptions":[{"date":"2026-11-26","off":true}]}`
	code, got := env.callWithContextToken(t, http.MethodPut, "/api/v1/me/schedule", "acc-1", body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, got)
	}
	next, _ := got["nextSwitches"].([]any)
	want := []string{
		"2026-11-25T16:00:00Z false", // Wednesday 17:00 CET
		"2026-11-27T08:00:00Z true",  // Thursday is off
		"2026-11-27T16:00:00Z false",
		"2026-11-30T08:00:00Z true",
		"2026-11-30T16:00:00Z false",
	}
	if len(next) != len(want) {
		t.Fatalf("nextSwitches %v", next)
	}
	for i, n := range next {
		sw := n.(map[string]any)
		if g := sw["at"].(string) + " " + map[bool]string{true: "true", false: "false"}[sw["online"].(bool)]; g != want[i] {
			t.Fatalf("switch %d: %s, want %s", i, g, want[i])
		}
	}
	_, again := env.callWithContextToken(t, http.MethodGet, "/api/v1/me/schedule?tz=UTC", "acc-1", "")
	a, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(g) {
		t.Fatalf("GET after PUT:\n%s\nwant:\n%s", a, g)
	}
	if _, other := env.callWithContextToken(t, http.MethodGet, "/api/v1/me/schedule", "acc-2", ""); other["enabled"] != false {
		t.Fatalf("another agent sees a schedule: %v", other)
	}

	code, got = env.callWithContextToken(t, http.MethodPut, "/api/v1/me/schedule", "acc-1",
		`{"timezone":"Europe/Warsaw","enabled":false,"rules":[{"days":["mon"],"start":"09:00","end":"17:00"}]}`)
	if code != http.StatusOK || got["enabled"] != false || len(got["nextSwitches"].([]any)) != 0 || len(got["rules"].([]any)) != 1 {
		t.Fatalf("disabling: %d %v", code, got)
	}
}

func TestPutScheduleRejects(t *testing.T) {
	for _, tc := range []struct {
		name, given, expectCode, expectPrefix string
	}{
		{"bad start", `{"timezone":"UTC","enabled":true,"rules":[{"days":["mon"],"start":"9am","end":"17:00"}]}`,
			"invalid_field", "rules[0].start: "},
		{"bad day", `{"timezone":"UTC","enabled":true,"rules":[{"days":["mon","funday"],"start":"09:00","end":"17:00"}]}`,
			"invalid_field", "rules[0].days[1]: "},
		{"bad zone", `{"timezone":"Mars/Olympus_Mons","enabled":true,"rules":[]}`, "invalid_field", "timezone: "},
		{"bad exception", `{"timezone":"UTC","enabled":true,"exceptions":[{"date":"2026-02-30","off":true}]}`,
			"invalid_field", "exceptions[0].date: "},
		{"no enabled", `{"timezone":"UTC","rules":[]}`, "invalid_field", "enabled: "},
		{"unknown field", `{"timezone":"UTC","enabled":true,"holidays":[]}`, "invalid_field", "holidays: "},
		{"not JSON", `{"timezone":`, "invalid_json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newHarness(t).seedTenant(t)
			code, got := env.callWithContextToken(t, http.MethodPut, "/api/v1/me/schedule", "acc-1", tc.given)
			e, _ := got["error"].(map[string]any) // nil when absent: the comparison fails
			message, _ := e["message"].(string)
			if code != http.StatusBadRequest || e["code"] != tc.expectCode || !strings.HasPrefix(message, tc.expectPrefix) {
				t.Fatalf("got %d %v, want 400 %s %q…", code, got, tc.expectCode, tc.expectPrefix)
			}
			if _, after := env.callWithContextToken(t, http.MethodGet, "/api/v1/me/schedule", "acc-1", ""); after["enabled"] != false {
				t.Fatalf("a rejected schedule was stored: %v", after)
			}
		})
	}
}

func TestScheduleNeedsAToken(t *testing.T) {
	env := newHarness(t)
	if r := env.request(t, http.MethodGet, "/api/v1/me/schedule", "", ""); r.status != http.StatusUnauthorized || r.errorCode(t) != "no_token" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
