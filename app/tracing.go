package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// tracing is the replica's OpenTelemetry tracer provider, exporting spans
// over OTLP/HTTP; it exists only when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and is passed to whoever
// traces (no global provider). A request's span is the parent of its
// queries' (gormTracing) and Jira calls' (jira.Guard) spans. Sampling
// follows OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, read by the SDK
// (default: every trace, a proxy's sampling decision respected).
type tracing struct {
	provider *sdktrace.TracerProvider
}

// newTracing builds the provider: spans go to exporter when given (tests,
// synchronously), else in batches to the OTLP endpoint.
func newTracing(ctx context.Context, cfg Config, exporter sdktrace.SpanExporter) (*tracing, error) {
	spans := sdktrace.WithSyncer(exporter)
	if exporter == nil {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.OTLPTracesURL))
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		spans = sdktrace.WithBatcher(exp)
	}
	res := resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))
	return &tracing{provider: sdktrace.NewTracerProvider(spans, sdktrace.WithResource(res))}, nil
}

// tracer is the tracer of one part of the app.
func (t *tracing) tracer(name string) trace.Tracer {
	return t.provider.Tracer("agentpresence/" + name)
}

// shutdown exports what is left.
func (t *tracing) shutdown(ctx context.Context) error {
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}

// otlpTracesURL is where traces go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as
// is, or OTEL_EXPORTER_OTLP_ENDPOINT with the signal's path (the OTLP
// specification's rule); "" when neither is set (tracing off).
func otlpTracesURL(getenv func(string) string) (string, error) {
	raw, name := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if raw == "" {
		base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
		if base == "" {
			return "", nil
		}
		raw, name = strings.TrimRight(base, "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("config: %s must be an http(s) URL of an OTLP/HTTP collector, e.g. http://otel-collector:4318", name)
	}
	return raw, nil
}

// gormTracing is a gorm plugin that gives each query of a traced request
// a span, a child of the request's. It is ours rather than
// gorm.io/plugin/opentelemetry because that module's tracing package
// imports the ClickHouse and MySQL drivers (and their compression
// libraries) into the binary, and records queries with their values by
// default; ours records the statement with its placeholders only, never
// the values (account ids), and starts no span for a query outside a
// traced request (the jobs' ticks).
type gormTracing struct {
	tracer trace.Tracer
	system string
}

// gormSpanKey is where a query's span waits for its end.
const gormSpanKey = "agentpresence:span"

// maxTracedStatement bounds the statement kept in a span.
const maxTracedStatement = 2048

// Name names the plugin for gorm.
func (gormTracing) Name() string { return "agentpresence:tracing" }

// Initialize registers the callbacks around each kind of statement.
func (p gormTracing) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register("tracing:before_create", p.before("create")),
		cb.Create().After("gorm:create").Register("tracing:after_create", p.after),
		cb.Query().Before("gorm:query").Register("tracing:before_query", p.before("query")),
		cb.Query().After("gorm:query").Register("tracing:after_query", p.after),
		cb.Update().Before("gorm:update").Register("tracing:before_update", p.before("update")),
		cb.Update().After("gorm:update").Register("tracing:after_update", p.after),
		cb.Delete().Before("gorm:delete").Register("tracing:before_delete", p.before("delete")),
		cb.Delete().After("gorm:delete").Register("tracing:after_delete", p.after),
		cb.Row().Before("gorm:row").Register("tracing:before_row", p.before("row")),
		cb.Row().After("gorm:row").Register("tracing:after_row", p.after),
		cb.Raw().Before("gorm:raw").Register("tracing:before_raw", p.before("raw")),
		cb.Raw().After("gorm:raw").Register("tracing:after_raw", p.after),
	} {
		if err != nil {
			return fmt.Errorf("tracing plugin: %w", err)
		}
	}
	return nil
}

func (p gormTracing) before(op string) func(*gorm.DB) {
	name := "db " + op
	return func(tx *gorm.DB) {
		ctx := tx.Statement.Context
		if ctx == nil || !trace.SpanContextFromContext(ctx).IsValid() {
			return // no traced request above
		}
		ctx, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", p.system)))
		tx.Statement.Context = ctx
		tx.InstanceSet(gormSpanKey, span)
	}
}

func (p gormTracing) after(tx *gorm.DB) {
	v, ok := tx.InstanceGet(gormSpanKey)
	if !ok {
		return
	}
	span, ok := v.(trace.Span)
	if !ok {
		return
	}
	stmt := tx.Statement.SQL.String()
	if len(stmt) > maxTracedStatement {
		stmt = stmt[:maxTracedStatement]
	}
	span.SetAttributes(attribute.String("db.query.text", stmt), attribute.Int64("db.response.returned_rows", tx.RowsAffected))
	if tx.Statement.Table != "" {
		span.SetAttributes(attribute.String("db.collection.name", tx.Statement.Table))
	}
	if tx.Error != nil && tx.Error != gorm.ErrRecordNotFound {
		span.RecordError(tx.Error)
	}
	span.End()
}
