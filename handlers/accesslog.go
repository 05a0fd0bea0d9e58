package handlers

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// AccessLog takes the request lines off the request's path: the request
// hands a small fixed record to a bounded queue, and one goroutine builds
// the log record and passes it to the logger (its throttle, its JSON
// formatting, its output). Nothing is dropped: when the queue is full the
// request waits for room (counted by Waits: the log cannot keep up), and
// Close, called once the server has stopped, writes every line queued.
type AccessLog struct {
	log   *slog.Logger
	queue chan accessEntry
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	waits atomic.Uint64
}

// accessEntry is one request's line, as the request leaves it: strings are
// the request's own (no copy), cut to length by the goroutine.
type accessEntry struct {
	at        time.Time
	level     slog.Level
	method    string
	path      string
	route     string
	requestID string
	status    int
	latency   time.Duration
	tenant    int64
}

// DefaultAccessLogQueue is how many request lines may wait to be logged
// (about 1 MB of entries); beyond that requests wait.
const DefaultAccessLogQueue = 8192

// NewAccessLog starts the goroutine that logs request lines to log; queue
// bounds the lines waiting (0: DefaultAccessLogQueue).
func NewAccessLog(log *slog.Logger, queue int) *AccessLog {
	if queue <= 0 {
		queue = DefaultAccessLogQueue
	}
	a := &AccessLog{log: log, queue: make(chan accessEntry, queue), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

// add queues a line, waiting for room if the queue is full; after Close
// it logs the line itself.
func (a *AccessLog) add(e accessEntry) {
	select {
	case <-a.stop:
		a.write(e)
		return
	default:
	}
	select {
	case a.queue <- e:
		return
	default:
	}
	a.waits.Add(1)
	select {
	case a.queue <- e:
	case <-a.stop:
		a.write(e)
	}
}

func (a *AccessLog) run() {
	defer close(a.done)
	for {
		select {
		case e := <-a.queue:
			a.write(e)
		case <-a.stop:
			a.drain()
			return
		}
	}
}

// drain logs whatever is queued.
func (a *AccessLog) drain() {
	for {
		select {
		case e := <-a.queue:
			a.write(e)
		default:
			return
		}
	}
}

func (a *AccessLog) write(e accessEntry) { writeRequestLine(a.log, e) }

// writeRequestLine logs a request's line to log, by the queue's goroutine
// or, without an access log (tests, benchmarks), by the request itself.
func writeRequestLine(log *slog.Logger, e accessEntry) {
	r := slog.NewRecord(e.at, e.level, "request", 0)
	r.AddAttrs(slog.String("method", truncateForLog(e.method)), slog.String("path", truncateForLog(e.path)),
		slog.String("route", e.route), slog.Int("status", e.status),
		slog.Float64("latency_ms", float64(e.latency.Microseconds())/1000), slog.String("request_id", e.requestID))
	if e.tenant != 0 {
		r.AddAttrs(slog.Int64("tenant", e.tenant))
	}
	// The handler's errors (a closed stderr) have nowhere to go.
	_ = log.Handler().Handle(context.Background(), r)
}

// Close logs every line queued and stops the goroutine; the server must
// have stopped (or ctx end first). A request still running after it logs
// its line itself. A second Close does nothing.
func (a *AccessLog) Close(ctx context.Context) error {
	a.once.Do(func() { close(a.stop) })
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A line queued while the goroutine was stopping.
	a.drain()
	return nil
}

// Waits is how many requests found the queue full and waited for room.
func (a *AccessLog) Waits() uint64 { return a.waits.Load() }
