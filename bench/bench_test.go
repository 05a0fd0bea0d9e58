package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"
)

func TestStreamReadsEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "retry: 2000\n\n: keepalive\n\nevent: keepalive\ndata: {}\n\nid: 1\nevent: status\ndata: {\"online\":true}\n\n")
		w.(http.Flusher).Flush()
		fmt.Fprintf(w, "id: 2\r\nevent: presence\r\ndata: a\r\ndata: b\r\n\r\n")
	}))
	defer srv.Close()
	s, err := OpenStream(context.Background(), NewStreamClient(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []Event
	_ = s.Read(func(e Event) { got = append(got, e) })
	want := []Event{{Name: "status", ID: "1", Data: []byte(`{"online":true}`)}, {Name: "presence", ID: "2", Data: []byte("ab")}}
	if len(got) != len(want) {
		t.Fatalf("got %d events %q, want %q", len(got), got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].ID != want[i].ID || string(got[i].Data) != string(want[i].Data) {
			t.Errorf("event %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestOpenStreamRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := OpenStream(context.Background(), NewStreamClient(), srv.URL, "")
	if se, ok := err.(*StatusError); !ok || se.Code != http.StatusNotFound {
		t.Fatalf("got %v, want a 404 StatusError", err)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	slices.Sort(d)
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Quantile(d, tt.q); got != tt.want {
			t.Errorf("Quantile(%g) = %s, want %s", tt.q, got, tt.want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty input")
	}
}

func TestLoadCountsOnlyTheMeasuredWindow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	res := Load(context.Background(), 4, 100*time.Millisecond, 300*time.Millisecond, func(w, i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		return req
	})
	if res.Requests == 0 || res.Errors != 0 || res.Status[http.StatusOK] != res.Requests {
		t.Fatalf("got %+v", res)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Fatalf("latencies out of order: %+v", res)
	}
}

func TestReadUsageOfSelf(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSSKiB <= 0 {
		t.Fatalf("no resident memory read: %+v", u)
	}
}
