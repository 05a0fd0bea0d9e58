// Package logsink is the process's log output, buffered: a log line is
// appended to memory and written out by one goroutine, many lines per
// write, so that no request waits for a write syscall (or for another
// goroutine's) to log. Nothing is dropped: when the buffer is full the
// writer that found it full writes it out itself (back-pressure, counted),
// and Close writes whatever is left.
package logsink

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBuffered is how many bytes wait at most before a writer has to
// write them itself: some 4,000 access log lines.
const DefaultMaxBuffered = 1 << 20

// DefaultFlushEvery bounds how long a line waits when the output is slow
// to wake; lines are normally written as soon as the goroutine runs.
const DefaultFlushEvery = 100 * time.Millisecond

// Writer is an io.Writer that buffers whole writes (slog's handlers write
// one line per call) and writes them to out from its own goroutine, in
// order. Lines of one Write are never split nor interleaved.
type Writer struct {
	out io.Writer
	max int

	mu     sync.Mutex // guards buf and closed
	buf    []byte
	closed bool

	// outMu orders the writes to out (the flusher's and a full buffer's
	// writer's); taken before mu, never after.
	outMu sync.Mutex
	spare []byte // guarded by outMu

	wake      chan struct{}
	stop      chan struct{}
	closeOnce sync.Once
	done      chan struct{}
	// waits counts writes that found the buffer full and wrote it out
	// themselves: the output is slower than the logging.
	waits atomic.Uint64
	// errs counts failed writes to out (a closed stderr: nothing to tell).
	errs atomic.Uint64
}

// New starts a Writer that buffers up to maxBuffered bytes (0: the
// default) for out, and writes them at least every flushEvery (0: the
// default).
func New(out io.Writer, maxBuffered int, flushEvery time.Duration) *Writer {
	if maxBuffered <= 0 {
		maxBuffered = DefaultMaxBuffered
	}
	if flushEvery <= 0 {
		flushEvery = DefaultFlushEvery
	}
	w := &Writer{out: out, max: maxBuffered, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run(flushEvery)
	return w
}

// Write queues p, a whole line or lines; it returns at once unless the
// buffer is full, and after Close it writes p directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closed && len(w.buf) > 0 && len(w.buf)+len(p) > w.max {
		w.mu.Unlock()
		w.waits.Add(1)
		w.flush()
		w.mu.Lock()
	}
	if w.closed {
		w.mu.Unlock()
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	wasEmpty := len(w.buf) == 0
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	if wasEmpty {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// flush writes out what is buffered, after whatever an earlier flush
// wrote.
func (w *Writer) flush() {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	if len(b) > 0 {
		if _, err := w.out.Write(b); err != nil {
			w.errs.Add(1)
		}
	}
	w.spare = b
}

func (w *Writer) run(every time.Duration) {
	defer close(w.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-w.wake:
		case <-tick.C:
		case <-w.stop:
			return
		}
		w.flush()
	}
}

// Close writes out what is buffered and stops the goroutine; later writes
// go to out directly. A second Close does nothing.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		<-w.done
		// What is left goes out before any later write, which goes out
		// directly.
		w.outMu.Lock()
		defer w.outMu.Unlock()
		w.mu.Lock()
		b := w.buf
		w.buf, w.closed = nil, true
		w.mu.Unlock()
		if len(b) > 0 {
			if _, err := w.out.Write(b); err != nil {
				w.errs.Add(1)
			}
		}
	})
	if w.errs.Load() > 0 {
		return errors.New("log sink: some writes failed")
	}
	return nil
}

// Waits is how many writes found the buffer full and had to write it out
// themselves.
func (w *Writer) Waits() uint64 { return w.waits.Load() }
