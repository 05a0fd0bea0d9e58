package handlers_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"agentpresence/models"
)

// BenchmarkIdleStreams measures what an idle stream costs the server: b.N
// streams are opened by raw TCP clients (a socket each, no goroutine), each
// reads its first event, and the heap and goroutine stacks in use are
// compared before and after. Run with -benchtime=2000x. "floor" is a bare
// net/http handler that only blocks: what any open request costs (its
// goroutine, net/http's read and write buffers), for comparison.
func BenchmarkIdleStreams(b *testing.B) {
	for _, kind := range []string{"widget", "agent", "floor"} {
		b.Run(kind, func(b *testing.B) {
			f := newLive(b, on(models.DialectSQLite))
			srv, path := f.srv, ""
			switch kind {
			case "widget":
				path = f.widgetPath("HELP")
			case "agent":
				path = f.agentPath(b, "alice", "")
			case "floor":
				srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write([]byte("data: {}\n\n"))
					http.NewResponseController(w).Flush()
					<-r.Context().Done()
				}))
				b.Cleanup(srv.Close)
				path = "/"
			}
			addr := strings.TrimPrefix(srv.URL, "http://")
			conns := make([]net.Conn, 0, b.N)
			b.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			var m0, m1 runtime.MemStats
			settle(&m0)
			for range b.N {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, c)
				if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					b.Fatal(err)
				}
				r := bufio.NewReaderSize(c, 256)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						b.Fatal(err)
					}
					if strings.HasPrefix(line, "data: ") {
						break
					}
				}
			}
			settle(&m1)
			heap, stack := int64(m1.HeapInuse)-int64(m0.HeapInuse), int64(m1.StackInuse)-int64(m0.StackInuse)
			b.ReportMetric(float64(heap+stack)/float64(b.N), "B/stream")
			b.ReportMetric(float64(heap)/float64(b.N), "heap-B/stream")
			b.ReportMetric(float64(stack)/float64(b.N), "stack-B/stream")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// settle collects garbage until idle stacks have shrunk, then reads the
// memory statistics.
func settle(m *runtime.MemStats) {
	for range 5 {
		runtime.GC()
	}
	runtime.ReadMemStats(m)
}
