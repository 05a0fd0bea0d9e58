package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestTracesSpanRequestStoreAndJira: with tracing on, a request that
// reads the store and asks Jira gives one trace: the request's span (its
// route, status and request id) is the ancestor of the queries' and the
// Jira calls' spans, and no query carries its values.
func TestTracesSpanRequestStoreAndJira(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		spans := tracetest.NewInMemoryExporter()
		m := startTracedApp(t, dialect, spans)
		resp := m.call(t, "GET", "/api/v1/me?project=SUP", "agent-1", "")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("me: %d", resp.StatusCode)
		}
		requestID := resp.Header.Get("X-Request-Id")
		got := spans.GetSpans()
		byID := map[string]tracetest.SpanStub{}
		var root *tracetest.SpanStub
		for i, s := range got {
			byID[s.SpanContext.SpanID().String()] = s
			if s.Name == "GET /api/v1/me" {
				root = &got[i]
			}
		}
		if root == nil {
			t.Fatalf("no request span among %d spans", len(got))
		}
		attrs := map[string]string{}
		for _, a := range root.Attributes {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if requestID == "" || attrs["request.id"] != requestID || attrs["http.route"] != "/api/v1/me" || attrs["http.response.status_code"] != "200" {
			t.Fatalf("request span attributes %v, request id %q", attrs, requestID)
		}
		under := func(s tracetest.SpanStub) bool {
			for p := s.Parent; p.IsValid(); {
				if p.SpanID() == root.SpanContext.SpanID() {
					return true
				}
				parent, ok := byID[p.SpanID().String()]
				if !ok {
					return false
				}
				p = parent.Parent
			}
			return false
		}
		var db, jiraCalls int
		for _, s := range got {
			switch {
			case strings.HasPrefix(s.Name, "db "):
				if !under(s) {
					continue // a query of no request (a job's)
				}
				db++
				for _, a := range s.Attributes {
					if a.Key == "db.query.text" && strings.Contains(a.Value.Emit(), "agent-1") {
						t.Errorf("a query span holds a value: %s", a.Value.Emit())
					}
				}
			case strings.HasPrefix(s.Name, "jira "):
				if !under(s) {
					t.Errorf("Jira span %q is not under the request's", s.Name)
				}
				jiraCalls++
			}
		}
		if db == 0 || jiraCalls < 2 {
			t.Fatalf("%d query spans and %d Jira spans under the request, want some of each (desks and permissions)", db, jiraCalls)
		}
	})
}

// startTracedApp is startMetricsApp's replica with spans to exporter.
func startTracedApp(t *testing.T, dialect models.Dialect, exporter *tracetest.InMemoryExporter) *metricsApp {
	t.Helper()
	return startAppWith(t, dialect, "", "", Options{SpanExporter: exporter})
}

// TestTracingOffStartsNothing: without an OTLP endpoint there is no
// tracer provider, and neither the router nor the Jira guard nor the store
// has a tracer.
func TestTracingOffStartsNothing(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + t.TempDir() + "/p.db", "PORT": "0"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	}()
	if a.tracing != nil || a.tracer("http") != nil || a.guardConfig().Tracer != nil || a.metrics != nil {
		t.Fatal("tracing or metrics are on without being configured")
	}
}
