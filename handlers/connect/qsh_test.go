package connect

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// request is the input of a canonical request case.
type request struct {
	method, path, rawQuery, basePath string
}

func TestCanonicalRequest(t *testing.T) {
	tests := []struct {
		name   string
		given  request
		expect string
	}{
		{
			name:   "atlassian example with literal spaces",
			given:  request{"GET", "/path/to/service", "zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2&repeated=Parameter 2", ""},
			expect: "GET&/path/to/service&first=param&repeated=Parameter%202,parameter%201,parameter%202&zee_last=param",
		},
		{
			name:   "atlassian example with %20",
			given:  request{"GET", "/path/to/service", "zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202&repeated=Parameter%202", ""},
			expect: "GET&/path/to/service&first=param&repeated=Parameter%202,parameter%201,parameter%202&zee_last=param",
		},
		{
			name:   "atlassian example with + for spaces",
			given:  request{"GET", "/path/to/service", "zee_last=param&repeated=parameter+1&first=param&repeated=parameter+2&repeated=Parameter+2", ""},
			expect: "GET&/path/to/service&first=param&repeated=Parameter%202,parameter%201,parameter%202&zee_last=param",
		},
		{name: "root", given: request{"GET", "/", "", ""}, expect: "GET&/&"},
		{name: "empty path is root", given: request{"GET", "", "", ""}, expect: "GET&/&"},
		{name: "plain path", given: request{"GET", "/path", "", ""}, expect: "GET&/path&"},
		{name: "trailing slash removed", given: request{"GET", "/path/", "", ""}, expect: "GET&/path&"},
		{name: "only one trailing slash removed", given: request{"GET", "/path//", "", ""}, expect: "GET&/path/&"},
		{
			name:   "ampersand in path",
			given:  request{"POST", "/rest/api/2/project&a=b", "x=y", ""},
			expect: "POST&/rest/api/2/project%26a=b&x=y",
		},
		{name: "plus and encoded plus", given: request{"GET", "/", "title=1+%2B+1+equals+3", ""}, expect: "GET&/&title=1%20%2B%201%20equals%203"},
		{name: "encoded tilde kept", given: request{"GET", "/", "eta=in+%7E3+days", ""}, expect: "GET&/&eta=in%20~3%20days"},
		{name: "asterisk encoded", given: request{"GET", "/", "query=connect*", ""}, expect: "GET&/&query=connect%2A"},
		{name: "jwt parameter ignored", given: request{"GET", "/path", "jwt=abc.def.ghi&a=b", ""}, expect: "GET&/path&a=b"},
		{name: "only jwt parameter", given: request{"GET", "/path", "jwt=abc.def.ghi", ""}, expect: "GET&/path&"},
		{name: "repeated jwt parameter ignored", given: request{"GET", "/", "jwt=1&b=2&jwt=3", ""}, expect: "GET&/&b=2"},
		{name: "jwt is case sensitive", given: request{"GET", "/", "JWT=1", ""}, expect: "GET&/&JWT=1"},
		{name: "parameter without value", given: request{"GET", "/", "a", ""}, expect: "GET&/&a="},
		{name: "parameter with empty value", given: request{"GET", "/", "a=&b", ""}, expect: "GET&/&a=&b="},
		{name: "empty pairs skipped", given: request{"GET", "/", "&a=1&&b=2&", ""}, expect: "GET&/&a=1&b=2"},
		{name: "method upper-cased", given: request{"get", "/path", "", ""}, expect: "GET&/path&"},
		{name: "base path stripped", given: request{"GET", "/app/path", "", "/app"}, expect: "GET&/path&"},
		{name: "base path with trailing slash", given: request{"GET", "/app/path", "", "/app/"}, expect: "GET&/path&"},
		{name: "base path alone is root", given: request{"GET", "/app", "", "/app"}, expect: "GET&/&"},
		{name: "base path with slash is root", given: request{"GET", "/app/", "", "/app"}, expect: "GET&/&"},
		{name: "base path only on segment boundary", given: request{"GET", "/application", "", "/app"}, expect: "GET&/application&"},
		{name: "slash base strips nothing", given: request{"GET", "/path", "", "/"}, expect: "GET&/path&"},
		{name: "sort is case sensitive", given: request{"GET", "/", "a=1&B=2", ""}, expect: "GET&/&B=2&a=1"},
		{name: "values sorted case sensitive", given: request{"GET", "/", "k=b&k=a&k=B", ""}, expect: "GET&/&k=B,a,b"},
		{name: "comma in value encoded", given: request{"GET", "/", "ids=1,2,3", ""}, expect: "GET&/&ids=1%2C2%2C3"},
		{name: "encoded comma in value", given: request{"GET", "/", "ids=1%2C2", ""}, expect: "GET&/&ids=1%2C2"},
		{name: "non-ascii raw", given: request{"GET", "/", "name=ü", ""}, expect: "GET&/&name=%C3%BC"},
		{name: "non-ascii encoded", given: request{"GET", "/", "name=%C3%BC", ""}, expect: "GET&/&name=%C3%BC"},
		{name: "lower-case escapes upper-cased", given: request{"GET", "/", "name=%c3%bc", ""}, expect: "GET&/&name=%C3%BC"},
		{name: "tilde in name decoded", given: request{"GET", "/", "a%7Eb=c", ""}, expect: "GET&/&a~b=c"},
		{name: "unreserved kept", given: request{"GET", "/", "a-b_c.d~e=A-Z_0.9~", ""}, expect: "GET&/&a-b_c.d~e=A-Z_0.9~"},
		{name: "reserved encoded", given: request{"GET", "/", "q=%3A%2F%3F%23%5B%5D%40%21%24%27%28%29%3B%3D", ""}, expect: "GET&/&q=%3A%2F%3F%23%5B%5D%40%21%24%27%28%29%3B%3D"},
		{name: "equals in value kept after first", given: request{"GET", "/", "jql=a=b", ""}, expect: "GET&/&jql=a%3Db"},
		{name: "invalid escape kept verbatim", given: request{"GET", "/", "a=%zz&b=%4", ""}, expect: "GET&/&a=%25zz&b=%254"},
		{name: "escaped path used as received", given: request{"GET", "/a%20b/c", "", ""}, expect: "GET&/a%20b/c&"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CanonicalRequest(tt.given.method, tt.given.path, tt.given.rawQuery, tt.given.basePath)
			if got != tt.expect {
				t.Errorf("CanonicalRequest(%q, %q, %q, %q)\n got  %q\n want %q",
					tt.given.method, tt.given.path, tt.given.rawQuery, tt.given.basePath, got, tt.expect)
			}
		})
	}
}

func TestQSH(t *testing.T) {
	tests := []struct {
		name   string
		given  request
		expect string
	}{
		{name: "root", given: request{"GET", "/", "", ""}, expect: "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"},
		{name: "path", given: request{"GET", "/path", "", ""}, expect: "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"},
		{name: "path with trailing slash", given: request{"GET", "/path/", "", ""}, expect: "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"},
		{name: "path under base", given: request{"get", "/app/path", "jwt=x", "/app"}, expect: "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QSH(tt.given.method, tt.given.path, tt.given.rawQuery, tt.given.basePath); got != tt.expect {
				t.Errorf("QSH = %s, want %s", got, tt.expect)
			}
		})
	}
}

func TestRequestQSHUsesEscapedPath(t *testing.T) {
	// given a request whose path contains an escaped slash and space
	r := httptest.NewRequest("GET", "https://app.example/app/a%2Fb/c%20d?x=1+2&jwt=t", nil)
	// when its qsh is computed relative to /app
	got := RequestQSH(r, "/app")
	// expect it to hash the path exactly as it was sent
	want := QSH("GET", "/a%2Fb/c%20d", "x=1%202", "")
	if got != want {
		t.Errorf("RequestQSH = %s, want %s (canonical %q)", got, want, CanonicalRequest("GET", r.URL.EscapedPath(), r.URL.RawQuery, "/app"))
	}
}

func TestURLQSH(t *testing.T) {
	u, err := url.Parse("https://x.atlassian.net/jira/rest/api/3/user?accountId=5b10a2844c20165700ede21g")
	if err != nil {
		t.Fatal(err)
	}
	got := URLQSH("get", u, "/jira")
	want := QSH("GET", "/rest/api/3/user", "accountId=5b10a2844c20165700ede21g", "")
	if got != want {
		t.Errorf("URLQSH = %s, want %s", got, want)
	}
}
