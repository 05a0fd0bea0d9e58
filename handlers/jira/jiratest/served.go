package jiratest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Served starts a simulated site below the base path /jira of a loopback
// server that t closes, as a site with a context path is, and returns it
// with its base URL.
func Served(t testing.TB, opts Options) (*Site, string) {
	t.Helper()
	site, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/jira/", site)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL + "/jira"
	if err := site.SetBaseURL(base); err != nil {
		t.Fatal(err)
	}
	return site, base
}
