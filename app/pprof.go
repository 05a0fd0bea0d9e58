package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves the Go runtime's profiles (net/http/pprof) on a
// listener of its own, so that the load harness, or an operator on the
// machine, can profile a replica under load. It is off unless PPROF_ADDR
// is set, and only ever on a loopback address: profiles reveal code
// paths and heap contents, and a 30-second CPU profile is a cheap way to
// slow a server down, so they are never on the public listener.
type pprofServer struct {
	srv *http.Server
	ln  net.Listener
}

// startPprof listens on addr, which LoadConfig has checked to be a
// loopback host and port, and serves the profiles in the background.
func startPprof(addr string, log *slog.Logger) (*pprofServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen: %w", err)
	}
	// A name such as localhost is resolved here: check what was bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("pprof listen: %s is not a loopback address", ln.Addr())
	}
	// A mux of its own: the package also registers itself on
	// http.DefaultServeMux, which nothing here serves.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or trace answers after its seconds.
	p := &pprofServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof serve", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return p, nil
}

// Addr is where the profiles are served.
func (p *pprofServer) Addr() string { return p.ln.Addr().String() }

// Close stops the listener at once; a profile being taken is cut short.
func (p *pprofServer) Close() error {
	if err := p.srv.Close(); err != nil {
		return fmt.Errorf("close pprof: %w", err)
	}
	return nil
}

// checkPprofAddr accepts host:port with a loopback host (an IP address or
// localhost) and a port; anything else would expose the profiles.
func checkPprofAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("config: PPROF_ADDR %q must be host:port on a loopback address, e.g. 127.0.0.1:6060", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("config: PPROF_ADDR %q must be on a loopback address (127.0.0.1, ::1 or localhost), never a public one", addr)
	}
	return nil
}
