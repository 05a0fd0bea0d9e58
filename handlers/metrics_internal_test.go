package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// metricsBench is the request log's middleware (which feeds the metrics),
// logging nothing, around a handler that answers 200,
// on a context routed to the public status.
func metricsBench(m *HTTPMetrics) (echo.HandlerFunc, echo.Context) {
	e := echo.New()
	const route = "/public/v1/widgets/:widgetId/status"
	e.GET(route, func(echo.Context) error { return nil })
	m.prepare(e)
	h := requestLog(slog.New(slog.DiscardHandler), nil, m)(func(c echo.Context) error {
		c.Response().Status = http.StatusOK
		return nil
	})
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/public/v1/widgets/w_x/status", nil), httptest.NewRecorder())
	c.SetPath(route)
	return h, c
}

// BenchmarkHTTPMetricsMiddleware is the request log's middleware without
// (nil) and with metrics: the difference is observing one request.
func BenchmarkHTTPMetricsMiddleware(b *testing.B) {
	for name, m := range map[string]*HTTPMetrics{"off": nil, "on": NewHTTPMetrics(prometheus.NewRegistry())} {
		b.Run(name, func(b *testing.B) {
			h, c := metricsBench(m)
			b.ReportAllocs()
			for b.Loop() {
				_ = h(c)
			}
		})
	}
}

// TestHTTPMetricsAllocateNothing: once a route's status was seen,
// observing a request allocates nothing; counts land on the route
// pattern and the status.
func TestHTTPMetricsAllocateNothing(t *testing.T) {
	m := NewHTTPMetrics(prometheus.NewRegistry())
	h, c := metricsBench(m)
	_ = h(c)
	if n := testing.AllocsPerRun(1000, func() { _ = h(c) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
	got := testutil.ToFloat64(m.requests.WithLabelValues("/public/v1/widgets/:widgetId/status", "GET", "200"))
	if got != 1002 {
		t.Fatalf("counted %v requests, want 1002", got)
	}
}
