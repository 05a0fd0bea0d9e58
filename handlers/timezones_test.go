package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestTimezones(t *testing.T) {
	env := newHarness(t).seedTenant(t) // the clock: 2026-11-25, winter in Europe
	tok := env.token(t, "acc-1")
	get := func(etag string) apiResult {
		r := req{method: http.MethodGet, target: "/api/v1/timezones", token: tok, header: http.Header{}}
		if etag != "" {
			r.header.Set("If-None-Match", etag)
		}
		return env.do(t, r)
	}
	rec := get("")
	if rec.status != http.StatusOK {
		t.Fatalf("%d %s", rec.status, rec.body)
	}
	var got struct {
		Version string `json:"version"`
		Zones   []struct {
			Name          string   `json:"name"`
			Offset        string   `json:"offset"`
			OffsetMinutes int      `json:"offsetMinutes"`
			Countries     string   `json:"countries"`
			Aliases       []string `json:"aliases"`
		} `json:"zones"`
	}
	if err := json.Unmarshal(rec.body, &got); err != nil {
		t.Fatal(err)
	}
	expect := map[string]string{"Europe/Kyiv": "+02:00", "Asia/Kolkata": "+05:30", "America/St_Johns": "-03:30", "UTC": "+00:00"}
	for _, z := range got.Zones {
		if z.Name == "Europe/Kiev" || z.Name == "Asia/Calcutta" {
			t.Errorf("old name %s offered", z.Name)
		}
		if want, ok := expect[z.Name]; ok {
			if z.Offset != want {
				t.Errorf("%s: offset %s, want %s", z.Name, z.Offset, want)
			}
			delete(expect, z.Name)
		}
		if z.Name == "Europe/Kyiv" && (z.Countries != "Ukraine" || len(z.Aliases) == 0 || z.Aliases[0] != "Europe/Kiev") {
			t.Errorf("Europe/Kyiv: %+v", z)
		}
		if z.Name == "Asia/Kolkata" && z.OffsetMinutes != 330 {
			t.Errorf("Asia/Kolkata: %d minutes", z.OffsetMinutes)
		}
	}
	if len(expect) > 0 {
		t.Errorf("missing: %v", expect)
	}
	etag := rec.header.Get("ETag")
	if etag == "" || rec.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("headers %v", rec.header)
	}
	if again := get(etag); again.status != http.StatusNotModified || len(again.body) != 0 {
		t.Fatalf("revalidation: %d %q", again.status, again.body)
	}
	// Summer: the offsets, so the answer and its tag, change.
	env.clock.Advance(200 * 24 * time.Hour)
	tok = env.token(t, "acc-1")
	if summer := get(etag); summer.status != http.StatusOK || summer.header.Get("ETag") == etag {
		t.Fatalf("after the clocks changed: %d, tag %s", summer.status, summer.header.Get("ETag"))
	}
	if rec := env.request(t, http.MethodGet, "/api/v1/timezones", "", ""); rec.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", rec.status)
	}
}

func TestSchedulePreview(t *testing.T) {
	const week = `"timezone":"Europe/Berlin","rules":[{"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:00"}]`
	type answer struct {
		OnlineNow bool `json:"onlineNow"`
		Switches  []struct {
			At     time.Time `json:"at"`
			Online bool      `json:"online"`
		} `json:"switches"`
		Truncated bool `json:"truncated"`
	}
	for _, tc := range []struct {
		name, query, body string
		expectOnline      bool
		expectSwitches    int
	}{
		// Wednesday 25 November 2026, 10:00 in Berlin: inside the window.
		// Two weeks: Wed off, Thu, Fri, five days, Mon, Tue (on and off),
		// Wed 9 Dec on at 09:00, before the period ends at 10:00.
		{"two weeks", "", `{"enabled":true,` + week + `}`, true, 20},
		{"one day", "?days=1", `{"enabled":true,` + week + `}`, true, 2},
		{"switched off", "", `{"enabled":false,` + week + `}`, false, 0},
		{"overnight", "?days=2", `{"enabled":true,"timezone":"UTC","rules":[{"days":["wed","thu"],"start":"22:00","end":"06:00"}]}`, false, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newHarness(t).seedTenant(t)
			code, raw := env.callWithContextToken(t, http.MethodPost, "/api/v1/me/schedule/preview"+tc.query, "acc-1", tc.body)
			if code != http.StatusOK {
				t.Fatalf("%d %v", code, raw)
			}
			b, err := json.Marshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			var got answer
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.OnlineNow != tc.expectOnline || len(got.Switches) != tc.expectSwitches || got.Truncated {
				t.Fatalf("got %s", b)
			}
			if tc.name == "two weeks" && (got.Switches[0].Online || !got.Switches[0].At.Equal(time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC))) {
				t.Fatalf("first switch %+v, want offline at 17:00 Berlin", got.Switches[0])
			}
			// A preview saves nothing.
			if _, s := env.callWithContextToken(t, http.MethodGet, "/api/v1/me/schedule", "acc-1", ""); s["enabled"] != false || len(s["rules"].([]any)) != 0 {
				t.Fatalf("a preview was stored: %v", s)
			}
		})
	}
}

func TestSchedulePreviewRejects(t *testing.T) {
	for _, tc := range []struct {
		name, query, body, expectCode, expectMessage string
	}{
		{"no days", "?days=0", `{"enabled":true,"timezone":"UTC"}`, "invalid_param", "days: must be a whole number of days from 1 to 31"},
		{"too many days", "?days=32", `{"enabled":true,"timezone":"UTC"}`, "invalid_param", "days: must be a whole number of days from 1 to 31"},
		{"days in words", "?days=two", `{"enabled":true,"timezone":"UTC"}`, "invalid_param", "days: must be a whole number of days from 1 to 31"},
		{"bad start", "", `{"enabled":true,"timezone":"UTC","rules":[{"days":["mon"],"start":"25:00","end":"17:00"}]}`,
			"invalid_field", `rules[0].start: invalid time "25:00", want H:MM or HH:MM between 00:00 and 24:00`},
		{"no enabled", "", `{"timezone":"UTC"}`, "invalid_field", "enabled: is required (true or false)"},
		{"bad zone", "", `{"enabled":true,"timezone":"Mars/Olympus_Mons"}`, "invalid_field", `timezone: unknown time zone "Mars/Olympus_Mons"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newHarness(t).seedTenant(t)
			code, got := env.callWithContextToken(t, http.MethodPost, "/api/v1/me/schedule/preview"+tc.query, "acc-1", tc.body)
			e, _ := got["error"].(map[string]any)
			if code != http.StatusBadRequest || e["code"] != tc.expectCode || e["message"] != tc.expectMessage {
				t.Fatalf("got %d %v", code, got)
			}
		})
	}
}
