package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestOtherLoopback(t *testing.T) {
	tests := []struct{ given, want, err string }{
		{given: "http://localhost:8080", want: "http://127.0.0.1:8080"},
		{given: "http://127.0.0.1:8080", want: "http://localhost:8080"},
		{given: "http://[::1]:8080", want: "http://localhost:8080"},
		{given: "http://localhost", want: "http://127.0.0.1:80"},
		{given: "https://presence.example.com", err: "not a loopback"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.given)
		got, err := otherLoopback(u)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v", tt.given, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.given, got, err, tt.want)
		}
	}
}

// TestStandIns: tokens only for the site's users, signed URLs only for the
// descriptor's modules, and AP.request only for user lookups.
func TestStandIns(t *testing.T) {
	h, err := New(Options{BaseURL: "http://localhost:18080", AppKey: "io.example.presence"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		status int
	}{
		{"/demo/api/token?accountId=" + url.QueryEscape(Alice), http.StatusOK},
		{"/demo/api/token?accountId=nobody", http.StatusNotFound},
		{"/demo/api/signed-url?module=presence-dialog&project=HELP&accountId=" + url.QueryEscape(Bob), http.StatusOK},
		{"/demo/api/signed-url?module=evil&accountId=" + url.QueryEscape(Bob), http.StatusNotFound},
		{"/demo/api/jira?accountId=" + url.QueryEscape(Alice) + "&path=" + url.QueryEscape("/rest/api/3/permissions/check"), http.StatusForbidden},
		{"/demo/api/jira?accountId=nobody&path=" + url.QueryEscape("/rest/api/3/user?accountId=x"), http.StatusNotFound},
		{"/demo/", http.StatusServiceUnavailable}, // not installed yet
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.Host = "localhost:18080"
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("GET %s = %d, want %d: %s", tt.path, rec.Code, tt.status, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/demo/api/signed-url?module=presence-dialog&project=HELP&accountId="+url.QueryEscape(Bob), nil)
	req.Host = "127.0.0.1:18080"
	h.ServeHTTP(rec, req)
	var got struct{ URL string }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !strings.HasPrefix(got.URL, "http://localhost:18080/pages/presence?lic=active&project=HELP&jwt=") {
		t.Fatalf("signed URL %q %v", got.URL, err)
	}
}

// TestOtherHostsRefused: a site that rebinds its name to 127.0.0.1 reaches
// the server with its own Host and gets nothing.
func TestOtherHostsRefused(t *testing.T) {
	h, err := New(Options{BaseURL: "http://localhost:18080", AppKey: "io.example.presence"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/demo/api/token?accountId="+url.QueryEscape(Alice), nil)
	req.Host = "evil.example:18080"
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMisdirectedRequest || strings.Contains(rec.Body.String(), "token") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
