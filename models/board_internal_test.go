package models

import "testing"

// TestSiteOrigin: the portal's origin is what a browser sends as Origin
// for pages of the tenant's site, whatever the base URL's path or case.
func TestSiteOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://acme.atlassian.net":       "https://acme.atlassian.net",
		"https://Acme.Atlassian.net/jira/": "https://acme.atlassian.net",
		"http://127.0.0.1:8080/demo/site":  "http://127.0.0.1:8080",
		"":                                 "",
		"acme.atlassian.net":               "",
		"https://[::1":                     "",
	} {
		if got := siteOrigin(in); got != want {
			t.Errorf("siteOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}
