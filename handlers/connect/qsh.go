package connect

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// ContextQSH is the literal qsh Jira puts into tokens that are not bound to a
// single request (page and context tokens).
const ContextQSH = "context-qsh"

// CanonicalRequest returns the Atlassian Connect canonical request
// "METHOD&canonical-path&canonical-query" for a request. path is the escaped
// path as received (only "&" is re-encoded), rawQuery the undecoded query
// string, and basePath the path of the app's base URL, which is stripped from
// the front of path ("" and "/" strip nothing).
func CanonicalRequest(method, path, rawQuery, basePath string) string {
	return strings.ToUpper(method) + "&" + canonicalPath(path, basePath) + "&" + canonicalQuery(rawQuery)
}

// QSH returns the query string hash of a request: the lower-case hex SHA-256
// of its CanonicalRequest.
func QSH(method, path, rawQuery, basePath string) string {
	sum := sha256.Sum256([]byte(CanonicalRequest(method, path, rawQuery, basePath)))
	return hex.EncodeToString(sum[:])
}

// RequestQSH returns the QSH of an incoming request, relative to basePath.
func RequestQSH(r *http.Request, basePath string) string {
	return QSH(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, basePath)
}

// URLQSH returns the QSH of an outgoing request to u, relative to basePath
// (the path of the target site's base URL).
func URLQSH(method string, u *url.URL, basePath string) string {
	return QSH(method, u.EscapedPath(), u.RawQuery, basePath)
}

// canonicalPath strips basePath, normalises the empty path and a single
// trailing slash, and escapes "&" because it is the canonical separator.
func canonicalPath(path, basePath string) string {
	base := strings.TrimRight(basePath, "/")
	// Strip only on a segment boundary so "/application" is not treated as
	// living under "/app".
	if base != "" && (path == base || strings.HasPrefix(path, base+"/")) {
		path = path[len(base):]
	}
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return "/"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return strings.ReplaceAll(path, "&", "%26")
}

// canonicalQuery decodes the raw query, drops the jwt parameter, sorts names
// and values and re-encodes everything per RFC 3986.
func canonicalQuery(rawQuery string) string {
	params := map[string][]string{}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = formDecode(name)
		if name == "jwt" {
			continue
		}
		params[name] = append(params[name], formDecode(value))
	}
	if len(params) == 0 {
		return ""
	}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)

	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(name))
		b.WriteByte('=')
		values := params[name]
		sort.Strings(values)
		for j, v := range values {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
}

// formDecode decodes application/x-www-form-urlencoded text leniently: "+"
// is a space, valid %XX escapes are decoded and invalid ones are kept
// verbatim. Being lenient (unlike url.QueryUnescape) means a sloppy client
// still gets a deterministic hash instead of an error.
func formDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			out = append(out, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// percentEncode encodes every byte outside the RFC 3986 unreserved set as an
// upper-case %XX escape.
func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '-', c == '_', c == '.', c == '~':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
