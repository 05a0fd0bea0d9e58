package jira

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTargetPolicyRefusesAddressesThatAreNotPublic: the dialer's check, as
// a table of addresses it is handed once a name is resolved. Only parsed:
// nothing is sent to any of them.
func TestTargetPolicyRefusesAddressesThatAreNotPublic(t *testing.T) {
	tests := []struct {
		addr            string
		strict, devMode bool // allowed in production, allowed with AllowLoopback
	}{
		{"169.254.169.254", false, false}, // cloud metadata
		{"fd00:ec2::254", false, false},   // its IPv6 twin
		{"10.1.2.3", false, false},
		{"172.16.0.1", false, false},
		{"192.168.0.1", false, false},
		{"100.64.0.1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 of 169.254.169.254
		{"2002:a9fe:a9fe::1", false, false},  // 6to4 of it
		{"127.0.0.1", false, true},
		{"127.8.9.10", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"13.35.1.1", true, true},
		{"2600:1f18::1", true, true},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		for _, p := range []TargetPolicy{{}, {AllowLoopback: true}} {
			want := tt.strict
			if p.AllowLoopback {
				want = tt.devMode
			}
			err := p.CheckAddr(ip)
			if (err == nil) != want || err != nil && !errors.Is(err, ErrForbiddenTarget) {
				t.Errorf("%s, AllowLoopback %v: %v, want allowed %v", tt.addr, p.AllowLoopback, err, want)
			}
		}
	}
}

// TestTargetPolicyChecksBaseURLs: what an install may give as baseUrl.
func TestTargetPolicyChecksBaseURLs(t *testing.T) {
	tests := []struct {
		url             string
		strict, devMode bool
	}{
		{"https://acme.atlassian.net", true, true},
		{"https://acme.atlassian.net/jira", true, true},
		{"https://13.35.1.1:8443", true, true},
		{"http://acme.atlassian.net", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"https://169.254.169.254", false, false},
		{"https://10.0.0.1", false, false},
		{"https://[fe80::1%25eth0]", false, false},
		{"http://127.0.0.1:8080", false, true},
		{"http://localhost:8080", false, true},
		{"http://[::1]:8080", false, true},
		{"https://localhost", false, true},
		{"https://jira.localhost", false, true},
		{"http://10.0.0.1", false, false},
		{"https://user:pw@acme.atlassian.net", false, false},
		{"https://acme.atlassian.net?x=1", false, false},
		{"https://acme.atlassian.net#x", false, false},
		{"acme.atlassian.net", false, false},
		{"ftp://acme.atlassian.net", false, false},
		{"https://", false, false},
	}
	for _, tt := range tests {
		for _, p := range []TargetPolicy{{}, {AllowLoopback: true}} {
			want := tt.strict
			if p.AllowLoopback {
				want = tt.devMode
			}
			if err := p.CheckBaseURL(tt.url); (err == nil) != want {
				t.Errorf("%s, AllowLoopback %v: %v, want allowed %v", tt.url, p.AllowLoopback, err, want)
			}
		}
	}
}

// countingListener counts the connections a test server accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// countedServer is an HTTP server on loopback that counts connections.
func countedServer(t *testing.T, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cl
}

// TestGuardedClientRefusesBeforeConnecting: the production client refuses
// an address of this machine, given as an address or as a name that
// resolves to it (as DNS rebinding would), before any connection is made:
// the server on loopback accepts none. Only loopback is used, so that no
// test sends anything to a private or link-local network.
func TestGuardedClientRefusesBeforeConnecting(t *testing.T) {
	srv, counted := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	client := TargetPolicy{}.HTTPClient(DefaultTimeout)
	for _, target := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		resp, err := client.Get(target + "/rest/api/3/myself")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: answered %d", target, resp.StatusCode)
		}
		if !errors.Is(err, ErrForbiddenTarget) {
			t.Fatalf("%s: %v, want ErrForbiddenTarget", target, err)
		}
	}
	if n := counted.accepted.Load(); n != 0 {
		t.Fatalf("the refused target on port %d accepted %d connections", port, n)
	}
	// The same server is reached where loopback is allowed: the count above
	// could have moved.
	resp, err := TargetPolicy{AllowLoopback: true}.HTTPClient(DefaultTimeout).Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if counted.accepted.Load() != 1 {
		t.Fatalf("accepted %d, want 1", counted.accepted.Load())
	}
}

// TestClientFollowsNoRedirectToAnotherHost: a site that redirects the app
// elsewhere (another host:port on loopback stands for the metadata
// service) is not followed, and the token never reaches the other host; a
// redirect within the site is followed.
func TestClientFollowsNoRedirectToAnotherHost(t *testing.T) {
	var elsewhereHits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereHits.Add(1)
	}))
	t.Cleanup(elsewhere.Close)
	_, _, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/latest/meta-data", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/here", http.StatusFound)
		case "/here":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := &Client{AppKey: testAppKey, Now: testNow, Targets: TargetPolicy{AllowLoopback: true}}
	err := c.Do(context.Background(), site, "GET", "/away", nil, nil)
	if !errors.Is(err, ErrForbiddenTarget) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("redirect to another host: %v", err)
	}
	if n := elsewhereHits.Load(); n != 0 {
		t.Fatalf("the other host was called %d times", n)
	}
	// Within the site: followed (the fake Jira refuses the re-sent token,
	// whose qsh was for /moved, but it is reached).
	err = c.Do(context.Background(), site, "GET", "/moved", nil, nil)
	var jerr *Error
	if !errors.As(err, &jerr) || jerr.Path != "/moved" || jerr.Status != http.StatusUnauthorized {
		t.Fatalf("redirect within the site: %v", err)
	}
}

// TestClientRefusesPlainHTTPSites: without AllowLoopback, a site stored
// before the install check (or by hand) is still not called over http.
func TestClientRefusesPlainHTTPSites(t *testing.T) {
	_, fj, site := newFakeJira(t, "", func(w http.ResponseWriter, r *http.Request) {})
	err := (&Client{AppKey: testAppKey, Now: testNow}).Do(context.Background(), site, "GET", "/x", nil, nil)
	if !errors.Is(err, ErrForbiddenTarget) {
		t.Fatalf("%v", err)
	}
	if len(fj.requests) != 0 {
		t.Fatal("the site was called")
	}
}
