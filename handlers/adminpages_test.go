package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestAdminOnlineRevalidates: the admin page polls "Online now" with the
// ETag of its last answer; unchanged is a 304 without a body, a change
// a new answer with a new tag.
func TestAdminOnlineRevalidates(t *testing.T) {
	f := newAdmin(t)
	f.set(t, agentAlice, true, "HELP")
	get := func(etag string) apiResult {
		r := req{method: http.MethodGet, target: "/api/v1/admin/online", token: f.token(t, adminAda), header: http.Header{}}
		if etag != "" {
			r.header.Set("If-None-Match", etag)
		}
		return f.do(t, r)
	}
	first := get("")
	etag := first.header.Get("ETag")
	if first.status != http.StatusOK || etag == "" {
		t.Fatalf("%d, ETag %q", first.status, etag)
	}
	if same := get(etag); same.status != http.StatusNotModified || len(same.body) != 0 {
		t.Fatalf("unchanged: %d %q", same.status, same.body)
	}
	f.set(t, agentBob, true, "HELP")
	changed := get(etag)
	if changed.status != http.StatusOK || changed.header.Get("ETag") == etag {
		t.Fatalf("after a change: %d, ETag %q", changed.status, changed.header.Get("ETag"))
	}
	var body struct {
		Online []struct{ AccountID string } `json:"online"`
	}
	if err := json.Unmarshal(changed.body, &body); err != nil || len(body.Online) != 2 {
		t.Fatalf("%s", changed.body)
	}
}

// TestProjectSettingsSayWhoMayEdit: an agent of the project sees the
// settings with canEdit false, its administrator with canEdit true.
func TestProjectSettingsSayWhoMayEdit(t *testing.T) {
	f := newAdmin(t)
	for account, expect := range map[string]bool{agentBob: false, adminAda: true} {
		rec := f.get(t, "/api/v1/projects/HELP/settings", account)
		var got struct {
			CanEdit  *bool  `json:"canEdit"`
			WidgetID string `json:"widgetId"`
		}
		if err := json.Unmarshal(rec.body, &got); err != nil || rec.status != http.StatusOK {
			t.Fatalf("%s: %d %s", account, rec.status, rec.body)
		}
		if got.CanEdit == nil || *got.CanEdit != expect || got.WidgetID == "" {
			t.Errorf("%s: %s", account, rec.body)
		}
	}
}
