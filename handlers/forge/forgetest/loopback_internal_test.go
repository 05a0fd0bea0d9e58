package forgetest

import (
	"errors"
	"net/url"
	"testing"
)

// TestCheckLoopback is the guard Do applies before sending anything.
func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		given string
		ok    bool
	}{
		{"http://127.0.0.1:8080/x", true},
		{"http://127.0.0.2/x", true},
		{"https://localhost/x", true},
		{"http://[::1]:9/x", true},
		{"http://10.0.0.1/x", false},
		{"http://172.16.0.1/x", false},
		{"http://192.168.0.1/x", false},
		{"http://169.254.169.254/latest", false},
		{"http://[fe80::1]/x", false},
		{"http://[::ffff:10.0.0.1]/x", false},
		{"http://0.0.0.0/x", false},
		{"https://example.com/x", false},
		{"http://localhost.example.com/x", false},
		{"ftp://127.0.0.1/x", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.given)
		if err != nil {
			t.Fatal(err)
		}
		err = checkLoopback(u)
		if (err == nil) != tt.ok {
			t.Errorf("%s: error %v, want ok=%v", tt.given, err, tt.ok)
		}
		if !tt.ok && u.Scheme != "ftp" && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: error %v, want ErrNotLoopback", tt.given, err)
		}
	}
}
