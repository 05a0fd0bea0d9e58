package handlers_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"agentpresence/handlers"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
)

// page loads a page the way Jira does, with a signed URL.
func (s *seeded) page(t *testing.T, path string, q url.Values, account string) apiResult {
	t.Helper()
	signed := s.site.SignedURL(http.MethodGet, path, q, account)
	return s.request(t, http.MethodGet, strings.TrimPrefix(signed, s.baseURL), "", "")
}

func TestPagesSecurityHeaders(t *testing.T) {
	f := newAdmin(t)
	for _, name := range handlers.PageNames() {
		rec := f.page(t, "/pages/"+name, nil, agentAlice)
		if rec.status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, rec.status, rec.body)
		}
		csp := rec.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self' https://connect-cdn.atl-paas.net",
			"style-src 'self' 'unsafe-inline'", "img-src 'self' data: https:", "connect-src 'self'",
			"frame-ancestors https://*.atlassian.net https://*.jira.com 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if !strings.Contains(string(rec.body), handlers.ConnectScriptURL) {
			t.Errorf("%s does not load Atlassian's all.js", name)
		}
		if rec.header.Get("Cache-Control") != "no-store" || rec.header.Get("Referrer-Policy") != "no-referrer" ||
			rec.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %v", name, rec.header)
		}
	}
}

func TestPagesUseTheDemoConnectScript(t *testing.T) {
	f := newAdmin(t, withDeps(func(d *handlers.Deps) {
		d.ConnectScript = "http://localhost:8080/demo/ap.js"
		d.FrameAncestors = []string{"http://localhost:8080", "http://127.0.0.1:8080"}
	}))
	rec := f.page(t, "/pages/presence", url.Values{"project": {"HELP"}}, agentAlice)
	body := string(rec.body)
	if !strings.Contains(body, `<script src="http://localhost:8080/demo/ap.js">`) || strings.Contains(body, handlers.ConnectScriptURL) {
		t.Fatalf("all.js not replaced:\n%s", body)
	}
	if csp := rec.header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "'self' http://localhost:8080 http://127.0.0.1:8080") {
		t.Fatalf("CSP %q", csp)
	}
}

func TestPortalFooterRendersTheWidgetOfItsServiceDesk(t *testing.T) {
	f := newAdmin(t)
	ctx := context.Background()
	it := f.projects["IT"]
	if _, err := f.store.UpdateProjectSettings(ctx, f.tenant.ID, it.ID, models.ProjectSettings{WidgetEnabled: false}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// HR exists in Jira but the app has not seen it yet.
	if err := f.site.AddProject(jiratest.ProjectSpec{ID: 10003, Key: "HR"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desk       string
		wantWidget func() string
		wantLogin  string
	}{
		{desk: "1", wantWidget: func() string { return f.projects["HELP"].WidgetID }, wantLogin: "/servicedesk/customer/user/login?destination=portal%2F1"},
		{desk: "2", wantWidget: func() string { return "" }, wantLogin: "destination=portal%2F2"},
		{desk: "3", wantWidget: func() string {
			p, err := f.store.ProjectByKey(ctx, f.tenant.ID, "HR")
			if err != nil {
				t.Fatalf("HR was not synced from Jira: %v", err)
			}
			return p.WidgetID
		}},
		{desk: "99", wantWidget: func() string { return "" }},
		{desk: `1"><script>`, wantWidget: func() string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.desk, func(t *testing.T) {
			rec := f.page(t, "/pages/portal-footer", url.Values{"serviceDeskId": {tt.desk}}, "")
			if rec.status != http.StatusOK {
				t.Fatalf("%d %s", rec.status, rec.body)
			}
			body := string(rec.body)
			if want := `data-widget="` + tt.wantWidget() + `"`; !strings.Contains(body, want) {
				t.Fatalf("want %s in\n%s", want, body)
			}
			if strings.Contains(body, "{{") || strings.Contains(body, "<script>") {
				t.Fatalf("placeholders or injected markup left:\n%s", body)
			}
			if tt.wantLogin != "" && !strings.Contains(body, tt.wantLogin) {
				t.Fatalf("want login link %q in\n%s", tt.wantLogin, body)
			}
		})
	}
}

func TestWidgetScriptMayBeLoadedAnywhere(t *testing.T) {
	env := newHarness(t)
	rec := env.request(t, http.MethodGet, "/static/widget.js", "", "")
	if rec.status != http.StatusOK || rec.header.Get("Access-Control-Allow-Origin") != "*" ||
		rec.header.Get("Cross-Origin-Resource-Policy") != "cross-origin" || rec.header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(rec.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("%d %v", rec.status, rec.header)
	}
	// What a customer's browser loads: the script compressed.
	if n := len(rec.body); n > 20*1024 {
		t.Fatalf("widget.js is %d bytes; it must stay under 20 KB", n)
	}
	gz := env.do(t, req{method: http.MethodGet, target: "/static/widget.js", header: http.Header{"Accept-Encoding": {"gzip"}}})
	if gz.status != http.StatusOK || gz.header.Get("Content-Encoding") != "gzip" || !strings.Contains(gz.header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("widget.js not compressed: %d %v", gz.status, gz.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, rec.body) {
		t.Fatalf("the compressed widget.js is not the script (err %v)", err)
	}
	if n := len(gz.body); n > 7*1024 {
		t.Fatalf("widget.js compressed is %d bytes; it must stay under 7 KB", n)
	}
}
