package handlers

import (
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceRequests starts a span per request, named by its route pattern,
// with the request id as an attribute, and puts it in the request's
// context, so that the store's and Jira's spans are its children. A
// traceparent header (W3C) from a proxy in front makes it a child of the
// proxy's span. Customers' status polls and health probes get none: they
// touch neither the store nor Jira, and are most of the traffic. The
// server adds this middleware only when tracing is on.
func traceRequests(tracer trace.Tracer) echo.MiddlewareFunc {
	prop := propagation.TraceContext{}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			route := c.Path()
			if untraced(route) {
				return next(c)
			}
			if route == "" {
				route = unmatchedRoute
			}
			ctx := prop.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			ctx, span := tracer.Start(ctx, req.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("http.route", route)))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			// The request log inside renders errors: the status is final.
			err := next(c)
			status := c.Response().Status
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if id := requestID(c); id != "" {
				span.SetAttributes(attribute.String("request.id", id))
			}
			if status >= 500 {
				span.SetStatus(codes.Error, "")
			}
			return err
		}
	}
}

// untraced names the routes without spans.
func untraced(route string) bool {
	switch route {
	case "/public/v1/widgets/:widgetId/status", "/healthz", "/readyz", "/static/*":
		return true
	}
	return false
}
