package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"agentpresence/models"
)

// TestAdminOnlineRevalidates: the admin page polls "Online now" with the
// ETag of its last answer; unchanged is a 304 without a body, a change
// a new answer with a new tag.
func TestAdminOnlineRevalidates(t *testing.T) {
	f := newAdminFixture(t)
	f.set(t, agentAlice, true, models.SourceManual, "", "HELP")
	get := func(etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/admin/online", nil)
		req.Header.Set("Authorization", "JWT "+f.site.ContextToken(adminAda))
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		f.env.server.ServeHTTP(rec, req)
		return rec
	}
	first := get("")
	etag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || etag == "" {
		t.Fatalf("%d, ETag %q", first.Code, etag)
	}
	if same := get(etag); same.Code != http.StatusNotModified || same.Body.Len() != 0 {
		t.Fatalf("unchanged: %d %q", same.Code, same.Body)
	}
	f.set(t, agentBob, true, models.SourceManual, "", "HELP")
	changed := get(etag)
	if changed.Code != http.StatusOK || changed.Header().Get("ETag") == etag {
		t.Fatalf("after a change: %d, ETag %q", changed.Code, changed.Header().Get("ETag"))
	}
	var body struct {
		Online []struct{ AccountID string } `json:"online"`
	}
	if err := json.Unmarshal(changed.Body.Bytes(), &body); err != nil || len(body.Online) != 2 {
		t.Fatalf("%s", changed.Body)
	}
}

// TestProjectSettingsSayWhoMayEdit: an agent of the project sees the
// settings with canEdit false, its administrator with canEdit true.
func TestProjectSettingsSayWhoMayEdit(t *testing.T) {
	f := newAdminFixture(t)
	for account, expect := range map[string]bool{agentBob: false, adminAda: true} {
		rec := f.get(t, "/api/v1/projects/HELP/settings", account)
		var got struct {
			CanEdit  *bool  `json:"canEdit"`
			WidgetID string `json:"widgetId"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", account, rec.Code, rec.Body)
		}
		if got.CanEdit == nil || *got.CanEdit != expect || got.WidgetID == "" {
			t.Errorf("%s: %s", account, rec.Body)
		}
	}
}
