package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCeilingIsBareAndApart: the harness's ceiling answers its constant
// without the service's middleware, and every other path is the
// service's.
func TestCeilingIsBareAndApart(t *testing.T) {
	service := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusTeapot)
	})
	h := withCeiling(service)
	for path, want := range map[string]int{ceilingPath: http.StatusOK, "/healthz": http.StatusTeapot, ceilingPath + "/x": http.StatusTeapot} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
		if path == ceilingPath && (rec.Header().Get("X-Content-Type-Options") != "" || rec.Body.Len() < 50) {
			t.Errorf("the ceiling went through the service or is not a status-sized answer: %v %q", rec.Header(), rec.Body)
		}
	}
}

func TestCeilingIsOffByDefault(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "true": true} {
		cfg, err := LoadConfig(func(k string) string {
			if k == "BENCH_CEILING" {
				return v
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.BenchCeiling != want {
			t.Errorf("BENCH_CEILING=%q: %v, want %v", v, cfg.BenchCeiling, want)
		}
	}
}
