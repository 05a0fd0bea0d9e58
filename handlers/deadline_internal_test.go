package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestWriteDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	big := strings.Repeat("x", 16<<20) // more than the socket buffers hold
	e := echo.New()
	e.Use(writeDeadline(timeout))
	e.GET("/fast", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/slow", func(c echo.Context) error {
		time.Sleep(2 * timeout)
		return c.String(http.StatusOK, big)
	})
	e.GET("/api/v1/events", func(c echo.Context) error {
		time.Sleep(2 * timeout)
		return c.String(http.StatusOK, "stream")
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	get := func(path string) (string, error) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	tests := []struct {
		name   string
		given  string
		expect string
		cut    bool
	}{
		{name: "an answer written in time", given: "/fast", expect: "ok"},
		{name: "an answer written after the deadline is cut", given: "/slow", cut: true},
		// After /fast on the same connection, a stream must not inherit its
		// deadline: the middleware lifts it.
		{name: "a fast answer before a stream", given: "/fast", expect: "ok"},
		{name: "a stream has no deadline", given: "/api/v1/events", expect: "stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := get(tt.given)
			if tt.cut {
				if err == nil && len(got) == len(big) {
					t.Fatal("the whole answer arrived after the write deadline")
				}
				return
			}
			if err != nil || got != tt.expect {
				t.Fatalf("got %q, %v; want %q", got, err, tt.expect)
			}
		})
	}
}
