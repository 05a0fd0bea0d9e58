package app

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// streamMode is what the fault proxy does with an event stream.
type streamMode string

const (
	// streamsPass forwards streams byte for byte.
	streamsPass streamMode = "pass"
	// streamsReset resets every stream's connection (TCP RST), those
	// already open and every new one, before a byte of the answer.
	streamsReset streamMode = "reset"
	// streamsHold accepts streams and never forwards a byte, as a
	// buffering proxy that waits for the end of a body does.
	streamsHold streamMode = "hold"
	// streamsRefuse answers new streams as the app does past a stream
	// cap: 429 too_many_streams with Retry-After.
	streamsRefuse streamMode = "refuse"
)

// faultProxy is an HTTP proxy on loopback that a browser context uses
// (playwright's proxy option): it forwards plain requests to the app and
// does with event streams what its mode says. Its own paths (requests
// without a host) switch the mode and run control actions; node calls
// them. It forwards only to loopback addresses, checked before any
// connection is made.
type faultProxy struct {
	t       *testing.T
	ln      net.Listener
	srv     *http.Server
	forward *httputil.ReverseProxy
	// actions are the control paths beside /mode and /stats, e.g.
	// /restart; they get the control request's query.
	actions map[string]func(q url.Values) error

	mu    sync.Mutex
	mode  streamMode
	conns map[net.Conn]struct{} // the browser's side of open or held streams
	stats proxyStats
}

// proxyStats counts streams by what the proxy did with them, so that a
// scenario can tell it did not pass vacuously.
type proxyStats struct {
	Passed  int `json:"passed"`
	Reset   int `json:"reset"`
	Held    int `json:"held"`
	Refused int `json:"refused"`
}

func startFaultProxy(t *testing.T, actions map[string]func(q url.Values) error) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, actions: actions, mode: streamsPass, conns: map[net.Conn]struct{}{}}
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", pr.In.URL.Host, pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway) // the app is down (restarting)
		},
	}
	p.srv = &http.Server{Handler: p}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = p.srv.Close()
		p.setMode(streamsPass) // closes held streams
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

// URL is the proxy's address, for playwright's proxy.server and for the
// control paths.
func (p *faultProxy) URL() string { return "http://" + p.ln.Addr().String() }

// setMode switches what happens to streams. Reset resets the open ones
// too; leaving hold closes the held ones, so their clients try again.
func (p *faultProxy) setMode(m streamMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.mode
	p.mode = m
	if m == old || (m != streamsReset && old != streamsHold) {
		return
	}
	for c := range p.conns {
		if m == streamsReset {
			resetConn(c)
			p.stats.Reset++
		} else {
			c.Close()
		}
		delete(p.conns, c)
	}
}

// resetConn closes c with a TCP RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Host == "" {
		p.control(w, r)
		return
	}
	// Only loopback targets, decided from the address itself before any
	// connection: the browser asks for localhost or 127.0.0.1.
	host := r.URL.Hostname()
	if ip := net.ParseIP(host); r.Method == http.MethodConnect || r.URL.Scheme != "http" ||
		(host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		http.Error(w, "the test proxy forwards plain HTTP to loopback only", http.StatusForbidden)
		return
	}
	if !isStreamPath(r.URL.Path) {
		p.forward.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	refuse := p.mode == streamsRefuse
	if refuse {
		p.stats.Refused++
	}
	p.mu.Unlock()
	if refuse {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"code":"too_many_streams","message":"too many live streams are open"}}`)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.t.Errorf("fault proxy: hijack: %v", err)
		return
	}
	p.mu.Lock()
	mode := p.mode
	switch mode {
	case streamsReset:
		p.stats.Reset++
		p.mu.Unlock()
		resetConn(conn)
		return
	case streamsHold:
		p.stats.Held++
	default:
		p.stats.Passed++
	}
	p.conns[conn] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, conn)
		p.mu.Unlock()
		conn.Close()
	}()
	if mode == streamsHold {
		_, _ = io.Copy(io.Discard, buf) // until the client or the test closes it
		return
	}
	p.pipe(conn, buf, r)
}

// pipe forwards one stream: the request as the app expects it, then the
// bytes both ways until either side closes.
func (p *faultProxy) pipe(conn net.Conn, buf *bufio.ReadWriter, r *http.Request) {
	up, err := net.Dial("tcp", r.URL.Host)
	if err != nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	defer up.Close()
	out := r.Clone(r.Context())
	out.RequestURI, out.Close = "", true
	out.Header.Del("Proxy-Connection")
	if err := out.Write(up); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(conn, up)
		conn.Close()
	}()
	_, _ = io.Copy(up, buf)
	up.Close()
	<-done
}

// isStreamPath names the app's two event stream routes.
func isStreamPath(path string) bool {
	return path == "/api/v1/events" || (strings.HasPrefix(path, "/public/v1/widgets/") && strings.HasSuffix(path, "/events"))
}

// control serves POST /mode?streams=pass|reset|hold|refuse, POST /stats
// and the actions.
func (p *faultProxy) control(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/stats" {
		p.mu.Lock()
		st := p.stats
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	if r.URL.Path == "/mode" {
		switch m := streamMode(r.URL.Query().Get("streams")); m {
		case streamsPass, streamsReset, streamsHold, streamsRefuse:
			p.setMode(m)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "streams must be pass, reset, hold or refuse", http.StatusBadRequest)
		}
		return
	}
	action, ok := p.actions[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := action(r.URL.Query()); err != nil {
		p.t.Errorf("fault proxy: %s: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
