package connect

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzCanonicalRequest(f *testing.F) {
	seeds := []request{
		{"GET", "/path/to/service", "zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2&repeated=Parameter 2", ""},
		{"GET", "/path/to/service", "zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202&repeated=Parameter%202", ""},
		{"GET", "/", "", ""},
		{"GET", "/path", "", ""},
		{"GET", "/path/", "", ""},
		{"POST", "/rest/api/2/project&a=b", "x=y", ""},
		{"GET", "/", "title=1+%2B+1+equals+3", ""},
		{"GET", "/", "eta=in+%7E3+days", ""},
		{"GET", "/", "query=connect*", ""},
		{"GET", "/path", "jwt=abc.def.ghi&a=b", ""},
		{"GET", "/", "a", ""},
		{"get", "/app/path", "", "/app"},
		{"GET", "/", "a=1&B=2", ""},
		{"GET", "/", "ids=1,2,3", ""},
		{"GET", "/", "name=ü", ""},
		{"GET", "/", "a%7Eb=c", ""},
		{"GET", "/", "j%77t=x&jwt&%6Awt=y", ""},
		{"GET", "/", "a=%zz&b=%4&c=%", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.rawQuery, s.basePath)
	}
	f.Fuzz(func(t *testing.T, method, path, rawQuery, basePath string) {
		got := CanonicalRequest(method, path, rawQuery, basePath)
		if again := CanonicalRequest(method, path, rawQuery, basePath); again != got {
			t.Fatalf("not deterministic: %q vs %q", got, again)
		}
		if q := QSH(method, path, rawQuery, basePath); len(q) != 64 {
			t.Fatalf("qsh %q is not 64 hex digits", q)
		}

		cp := canonicalPath(path, basePath)
		if !strings.HasPrefix(cp, "/") || strings.Contains(cp, "&") {
			t.Fatalf("canonical path %q must start with / and contain no &", cp)
		}

		cq := canonicalQuery(rawQuery)
		if !strings.HasSuffix(got, "&"+cq) {
			t.Fatalf("canonical request %q does not end with query %q", got, cq)
		}
		for pair := range strings.SplitSeq(cq, "&") {
			if strings.HasPrefix(pair, "jwt=") {
				t.Fatalf("canonical query %q keeps a jwt pair", cq)
			}
		}
		for i := 0; i < len(cq); i++ {
			if c := cq[i]; !isUnreserved(c) && !strings.ContainsRune("%=&,", rune(c)) {
				t.Fatalf("canonical query %q has unencoded byte %q", cq, c)
			}
		}

		// Jira may send the parameters in any order; the hash must not care.
		pairs := strings.Split(rawQuery, "&")
		slices.Reverse(pairs)
		if rev := canonicalQuery(strings.Join(pairs, "&")); rev != cq {
			t.Fatalf("order matters: %q vs %q", cq, rev)
		}
		if len(pairs) > 1 {
			rotated := append(pairs[1:len(pairs):len(pairs)], pairs[0])
			if rot := canonicalQuery(strings.Join(rotated, "&")); rot != cq {
				t.Fatalf("order matters: %q vs %q", cq, rot)
			}
		}
	})
}

// fuzzSeedTokens returns tokens that look real but must not verify with the
// secret the fuzz targets use.
func fuzzSeedTokens(f *testing.F) []string {
	now := testNow()
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "client",
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
		QSH: ContextQSH,
	}
	sign := func(m jwt.SigningMethod, key any) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	expired := *c
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
	expiredTok, err := SignHS256(&expired, []byte("fuzz-secret"))
	if err != nil {
		f.Fatal(err)
	}
	return []string{
		"",
		"a.b.c",
		"..",
		"e30.e30.",
		"eyJhbGciOiJIUzI1NiJ9.e30.",
		sign(jwt.SigningMethodHS256, []byte("other-secret")),
		sign(jwt.SigningMethodHS512, []byte("fuzz-secret")),
		sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		expiredTok,
	}
}

func FuzzVerifyHS256(f *testing.F) {
	for _, s := range fuzzSeedTokens(f) {
		f.Add(s)
	}
	v := Verifier{Leeway: 30 * time.Second, Now: fixedClock(testNow())}
	f.Fuzz(func(t *testing.T, token string) {
		for _, allow := range []bool{false, true} {
			claims, err := v.VerifyHS256(token, []byte("fuzz-secret"), "", allow)
			if err == nil || claims != nil {
				t.Fatalf("garbage verified: %q", token)
			}
			if Reason(err) == "" {
				t.Fatalf("no reason for %v", err)
			}
		}
	})
}

func FuzzUnverifiedIssuer(f *testing.F) {
	for _, s := range fuzzSeedTokens(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		iss, err := UnverifiedIssuer(token)
		if err == nil && iss == "" {
			t.Fatalf("empty issuer without error for %q", token)
		}
		if err != nil && iss != "" {
			t.Fatalf("issuer %q alongside error %v", iss, err)
		}
	})
}
