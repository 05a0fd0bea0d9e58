package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// publicStatus is the public status answer with the chat fields.
type publicStatus struct {
	Online        bool   `json:"online"`
	Message       string `json:"message"`
	RequiresLogin bool   `json:"requiresLogin"`
	ChatURL       string `json:"chatUrl"`
	OnlineMessage string `json:"onlineMessage"`
	Lang          string `json:"lang"`
	Labels        struct {
		Online, Offline, Chat, Login string
	} `json:"labels"`
}

func (h *harness) publicStatus(t testing.TB, wid string, header ...string) (apiResult, publicStatus) {
	t.Helper()
	return h.publicStatusQuery(t, wid, "", header...)
}

func (h *harness) publicStatusQuery(t testing.TB, wid, query string, header ...string) (apiResult, publicStatus) {
	t.Helper()
	r := h.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/status"+query, "", header...)
	var s publicStatus
	if r.status == http.StatusOK {
		r.decode(t, &s)
	}
	return r, s
}

// TestErrorsInTheCallersLanguage: the one translation step words every
// answered error in the language the request asks for (Accept-Language,
// or ?lang=), by the error's code or message id, keeping the field's name
// in front; a language we do not speak is English.
func TestErrorsInTheCallersLanguage(t *testing.T) {
	env := newHarness(t, served())
	site := env.newSite(t)
	env.install(t, site)
	env.me(t, site, "ada", "HELP")
	stranger := env.newSite(t) // never installed
	for _, tt := range []struct {
		name, lang, method, path, body string
		site                           *jiratest.Site
		status                         int
		code, message                  string
	}{
		{"field, English", "", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":"ten"}`, site, 400, "invalid_field", "autoOfflineMinutes: must be a whole number"},
		{"field, German", "de-DE,de;q=0.9,en;q=0.8", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":"ten"}`, site, 400, "invalid_field", "autoOfflineMinutes: muss eine ganze Zahl sein"},
		{"field, Japanese", "ja", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":-1}`, site, 400, "invalid_field", "autoOfflineMinutes: 0 から 10080 の間にしてください"},
		{"a language we do not speak", "sv-SE", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":"ten"}`, site, 400, "invalid_field", "autoOfflineMinutes: must be a whole number"},
		{"body, Polish", "pl", "PUT", "/api/v1/settings", `{"autoOfflineMinutes":`, site, 400, "invalid_json", "Treść nie jest poprawnym JSON-em."},
		{"parameter, French", "fr", "GET", "/api/v1/admin/events?limit=0", "", site, 400, "invalid_param", "limit: doit être compris entre 1 et 10000"},
		{"message with data, Spanish", "es", "PUT", "/api/v1/me/status", `{"online":true,"project":"NOPE"}`, site, 404, "unknown_project", "no hay ningún proyecto de service desk con esa clave"},
		{"by code, Portuguese", "pt-BR", "GET", "/api/v1/me", "", stranger, 401, "unknown_tenant", "o app não está instalado neste site"},
		{"forbidden, German", "de", "PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[]}`,
			site, 403, "forbidden", "nur Projektadministratoren ändern die Einstellungen des Projekts"},
		{"schedule, German", "de", "PUT", "/api/v1/me/schedule", `{"enabled":true,"timezone":"UTC","rules":[{"days":["mon"],"start":"25:00","end":"17:00"}]}`,
			site, 400, "invalid_field", `rules[0].start: ungültige Uhrzeit "25:00", erwartet H:MM oder HH:MM zwischen 00:00 und 24:00`},
		{"schedule code the catalog lacks keeps its English", "ja", "PUT", "/api/v1/me/schedule", `{"enabled":true,"timezone":"Mars/Base"}`,
			site, 400, "invalid_field", `timezone: 不明なタイムゾーン "Mars/Base" です`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			user := "alice"
			if tt.name == "forbidden, German" {
				user = "bob"
			}
			var header []string
			if tt.lang != "" {
				header = []string{"Accept-Language", tt.lang}
			}
			if tt.site == stranger {
				// A token of a site that never installed the app.
				header = append(header, "Authorization", "JWT "+stranger.ContextToken("alice"))
				tt.site = nil
			}
			r := env.call(t, tt.site, user, tt.method, tt.path, tt.body, header...)
			var e errorJSON
			r.decode(t, &e)
			if r.status != tt.status || e.Error.Code != tt.code || e.Error.Message != tt.message {
				t.Fatalf("got %d %s %q, want %d %s %q", r.status, e.Error.Code, e.Error.Message, tt.status, tt.code, tt.message)
			}
		})
	}
	// The widget's own language, ?lang=, wins over the browser's; a
	// malformed one is refused at the edge, in the header's language.
	wid := env.widgetOf(t, mustTenant(t, env, site), "HELP")
	if _, s := env.publicStatusQuery(t, wid, "?lang=ja", "Accept-Language", "de"); s.Lang != "ja" {
		t.Fatalf("?lang=ja answered %q", s.Lang)
	}
	r, _ := env.publicStatusQuery(t, wid, "?lang=de%3Cscript%3E", "Accept-Language", "fr")
	var e errorJSON
	r.decode(t, &e)
	if r.status != 400 || e.Error.Code != "invalid_param" || !strings.HasPrefix(e.Error.Message, "lang: doit être un code de langue") {
		t.Fatalf("a malformed lang: %d %s", r.status, r.body)
	}
}

func mustTenant(t *testing.T, env *harness, site *jiratest.Site) models.TenantID {
	t.Helper()
	tn, err := env.store.TenantByClientKey(context.Background(), site.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// TestChatLinkAndTextsPerLanguage: a project's chat link, online text and
// messages per language, set by its admin, reach the public status in the
// customer's language, which chooses among precomputed answers with an
// ETag of its own; a language without its own text falls back to the
// project's default, then to the built-in text in that language.
func TestChatLinkAndTextsPerLanguage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		env := newHarness(t, on(dialect), served())
		site := env.newSite(t)
		tn := env.install(t, site)
		env.me(t, site, "ada", "HELP")
		wid := env.widgetOf(t, tn.ID, "HELP")
		p, err := env.store.ProjectByKey(context.Background(), tn.ID, "HELP")
		if err != nil {
			t.Fatal(err)
		}

		// Nothing set: the built-in texts in each language, the portal's
		// request form as the link.
		form := site.BaseURL() + "/servicedesk/customer/portal/" + p.ServiceDeskID
		r, s := env.publicStatus(t, wid, "Accept-Language", "de-DE,de;q=0.9")
		if s.Online || !s.RequiresLogin || s.ChatURL != form || s.Lang != "de" || s.Labels.Offline != "Chat offline" ||
			!strings.HasPrefix(s.Message, "Unsere Agents sind gerade nicht erreichbar") ||
			s.OnlineMessage != "Unsere Agents sind online und helfen Ihnen gern." {
			t.Fatalf("built-in German: %+v", s)
		}
		if !strings.HasSuffix(r.header.Get("ETag"), `-de"`) || !strings.Contains(r.header.Get("Vary"), "Accept-Language") {
			t.Fatalf("ETag %q, Vary %q", r.header.Get("ETag"), r.header.Get("Vary"))
		}
		_, s = env.publicStatus(t, wid, "Accept-Language", "ja")
		if s.Labels.Chat != "チャットを始める" || s.Message == models.DefaultUnavailableMessage || !strings.HasPrefix(s.Message, "ただいま") {
			t.Fatalf("built-in Japanese: %+v", s)
		}
		_, s = env.publicStatus(t, wid)
		if s.Lang != "en" || s.Message != models.DefaultUnavailableMessage || s.Labels.Login != "Log in or register to chat" {
			t.Fatalf("built-in English: %+v", s)
		}

		// The admin sets a link, the default texts and German ones; an old
		// page's body without the new fields keeps them.
		put := env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":true,
			"unavailableMessage":"Back at 9.","allowedOrigins":[],
			"chatUrl":" https://chat.example.com/start?desk=help ","onlineMessage":"Chat with us now.",
			"translations":{"de":{"unavailable":"Ab 9 Uhr wieder da.","online":"Schreiben Sie uns jetzt."},"ja":{"unavailable":"9時に戻ります。"},"fr":{}}}`)
		if put.status != http.StatusOK {
			t.Fatalf("settings: %d %s", put.status, put.body)
		}
		var got struct {
			ChatURL, DefaultChatURL, OnlineMessage, DefaultOnlineMessage, DefaultMessage string
			Translations                                                                 map[string]map[string]string
			Languages                                                                    []string
		}
		put.decode(t, &got)
		if got.ChatURL != "https://chat.example.com/start?desk=help" || got.DefaultChatURL != form || got.OnlineMessage != "Chat with us now." ||
			len(got.Translations) != 2 || got.Translations["de"]["online"] != "Schreiben Sie uns jetzt." || len(got.Languages) != 7 {
			t.Fatalf("settings answer: %s", put.body)
		}
		old := env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings", `{"widgetEnabled":true,"unavailableMessage":"Back at 9.","allowedOrigins":[]}`)
		if old.status != http.StatusOK || !strings.Contains(string(old.body), `"chatUrl":"https://chat.example.com/start?desk=help"`) {
			t.Fatalf("a body without the chat fields: %d %s", old.status, old.body)
		}
		// The settings in the caller's language: the built-in defaults.
		var de struct{ DefaultMessage, DefaultOnlineMessage string }
		env.call(t, site, "ada", "GET", "/api/v1/projects/HELP/settings", "", "Accept-Language", "de").decode(t, &de)
		if !strings.HasPrefix(de.DefaultMessage, "Unsere Agents") || !strings.HasPrefix(de.DefaultOnlineMessage, "Unsere Agents sind online") {
			t.Fatalf("defaults in German: %+v", de)
		}

		deOff, s := env.publicStatus(t, wid, "Accept-Language", "de")
		if s.Message != "Ab 9 Uhr wieder da." || s.ChatURL != "https://chat.example.com/start?desk=help" || s.OnlineMessage != "Schreiben Sie uns jetzt." {
			t.Fatalf("German, offline: %+v", s)
		}
		_, s = env.publicStatus(t, wid, "Accept-Language", "ja")
		if s.Message != "9時に戻ります。" || s.OnlineMessage != "Chat with us now." || s.Labels.Offline != "チャット対応時間外" {
			t.Fatalf("Japanese falls back to the default online text: %+v", s)
		}
		_, s = env.publicStatus(t, wid, "Accept-Language", "fr")
		if s.Message != "Back at 9." || s.Labels.Offline != "Chat hors ligne" {
			t.Fatalf("French falls back to the defaults: %+v", s)
		}

		// ETags by language: a German 304 for the German ETag, not for an
		// English request holding it.
		tag := deOff.header.Get("ETag")
		if r, _ := env.publicStatus(t, wid, "Accept-Language", "de", "If-None-Match", tag); r.status != http.StatusNotModified {
			t.Fatalf("German with its ETag: %d", r.status)
		}
		if r, _ := env.publicStatus(t, wid, "If-None-Match", tag); r.status != http.StatusOK {
			t.Fatalf("English with the German ETag: %d", r.status)
		}

		// Online: the online text is the message, no login needed.
		if r := env.call(t, site, "alice", "PUT", "/api/v1/me/status", `{"online":true,"project":"HELP"}`); r.status != http.StatusOK {
			t.Fatalf("online: %d %s", r.status, r.body)
		}
		r, s = env.publicStatus(t, wid, "Accept-Language", "de")
		if !s.Online || s.RequiresLogin || s.Message != "Schreiben Sie uns jetzt." || r.header.Get("ETag") == tag {
			t.Fatalf("German, online: %+v (ETag %s)", s, r.header.Get("ETag"))
		}
		// The live stream speaks the customer's language too, and its ids
		// carry that language's ETag.
		ev := env.call(t, nil, "", "GET", "/public/v1/widgets/"+wid+"/events", "", "Accept-Language", "ja")
		if !strings.Contains(string(ev.body), `"lang":"ja"`) || !strings.Contains(string(ev.body), `"labels":{"online":"チャット対応中"`) ||
			!strings.Contains(string(ev.body), strings.Trim(env.statusETag(t, wid, "ja"), `"`)+"\n") {
			t.Fatalf("stream in Japanese: %s", ev.body)
		}
	})
}

func (h *harness) statusETag(t testing.TB, wid, lang string) string {
	r, _ := h.publicStatus(t, wid, "Accept-Language", lang)
	return r.header.Get("ETag")
}

// TestChatSettingsRefused: bad chat settings answer a field error and
// change nothing.
func TestChatSettingsRefused(t *testing.T) {
	env := newHarness(t, served())
	site := env.newSite(t)
	env.install(t, site)
	env.me(t, site, "ada", "HELP")
	base := `{"widgetEnabled":true,"unavailableMessage":"","allowedOrigins":[],`
	if r := env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings", base+`"chatUrl":"https://chat.example.com","translations":{"de":{"online":"Hallo"}}}`); r.status != 200 {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	before := env.call(t, site, "ada", "GET", "/api/v1/projects/HELP/settings", "").body
	long := strings.Repeat("x", 1001)
	for _, tt := range []struct {
		name, body, field string
	}{
		{"http link", `"chatUrl":"http://chat.example.com"`, "chatUrl"},
		{"script link", `"chatUrl":"javascript:alert(1)"`, "chatUrl"},
		{"data link", `"chatUrl":"data:text/html,<b>x</b>"`, "chatUrl"},
		{"no host", `"chatUrl":"https:///start"`, "chatUrl"},
		{"user part", `"chatUrl":"https://me:pw@chat.example.com"`, "chatUrl"},
		{"space inside", `"chatUrl":"https://chat.example.com/a b"`, "chatUrl"},
		{"line break inside", `"chatUrl":"https://chat.example.com/\nx"`, "chatUrl"},
		{"oversized link", `"chatUrl":"https://chat.example.com/` + long + `"`, "chatUrl"},
		{"link not text", `"chatUrl":5`, "chatUrl"},
		{"oversized online text", `"onlineMessage":"` + long + `"`, "onlineMessage"},
		{"control character", `"onlineMessage":"hi\u0007"`, "onlineMessage"},
		{"unknown language", `"translations":{"xx":{"online":"hi"}}`, "translations"},
		{"language in another case", `"translations":{"DE":{"online":"hi"}}`, "translations"},
		{"oversized translation", `"translations":{"pt-BR":{"unavailable":"` + long + `"}}`, "translations.pt-BR.unavailable"},
		{"control character in a translation", `"translations":{"ja":{"online":"\u001b[31m"}}`, "translations.ja.online"},
		{"unknown field in a translation", `"translations":{"de":{"color":"red"}}`, "color"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings", base+tt.body+`}`)
			var e errorJSON
			r.decode(t, &e)
			if r.status != 400 || e.Error.Code != "invalid_field" || !strings.HasPrefix(e.Error.Message, tt.field+": ") {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if after := env.call(t, site, "ada", "GET", "/api/v1/projects/HELP/settings", "").body; string(after) != string(before) {
				t.Fatalf("a refused change changed the settings:\n%s\n%s", before, after)
			}
		})
	}
	// Long texts in every language fit the settings' own body limit.
	var tr []string
	for _, l := range []string{"en", "de", "fr", "es", "pl", "pt-BR", "ja"} {
		text := strings.Repeat("あ", 1000)
		tr = append(tr, `"`+l+`":{"unavailable":"`+text+`","online":"`+text+`"}`)
	}
	if r := env.call(t, site, "ada", "PUT", "/api/v1/projects/HELP/settings", base+`"translations":{`+strings.Join(tr, ",")+`}}`); r.status != 200 {
		t.Fatalf("seven languages of 1,000 characters each: %d %s", r.status, r.body)
	}
}

// TestPortalFooterKnowsTheCustomer: the footer tells widget.js whether the
// token names a customer (then no login prompt) and in which language to
// speak: Jira's loc, else the browser's.
func TestPortalFooterKnowsTheCustomer(t *testing.T) {
	env := newHarness(t, served())
	site := env.newSite(t)
	tn := env.install(t, site)
	env.me(t, site, "ada", "HELP")
	p, err := env.store.ProjectByKey(context.Background(), tn.ID, "HELP")
	if err != nil {
		t.Fatal(err)
	}
	footer := func(account string, q url.Values, header ...string) (int, string) {
		t.Helper()
		q.Set("serviceDeskId", p.ServiceDeskID)
		req, _ := http.NewRequest("GET", site.SignedURL("GET", "/pages/portal-footer", q, account), nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		name, account string
		q             url.Values
		header        []string
		expect        []string
	}{
		{"anonymous", "", url.Values{}, nil, []string{`data-signed-in="false"`, `<html lang="en">`, `<title>Chat availability</title>`}},
		{"logged-in customer", "carol", url.Values{}, nil, []string{`data-signed-in="true"`, `data-widget="` + p.WidgetID + `"`}},
		{"Jira's loc", "carol", url.Values{"loc": {"de_DE"}}, []string{"Accept-Language", "fr"}, []string{`<html lang="de">`, `data-lang="de"`, `<h1 class="sr-only">Chat-Verfügbarkeit</h1>`}},
		{"the browser's language", "", url.Values{}, []string{"Accept-Language", "ja-JP,ja;q=0.9"}, []string{`<html lang="ja">`, `data-lang="ja"`}},
		{"a locale we do not speak", "", url.Values{"loc": {"sv_SE"}}, nil, []string{`<html lang="en">`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := footer(tt.account, tt.q, tt.header...)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			for _, want := range tt.expect {
				if !strings.Contains(body, want) {
					t.Errorf("no %s in\n%s", want, body)
				}
			}
			if strings.Contains(body, "{{") {
				t.Errorf("template markers left: %s", body)
			}
		})
	}
	// A loc that is not shaped like a locale is refused at the edge.
	if status, body := footer("", url.Values{"loc": {"de<script>"}}); status != http.StatusBadRequest || !strings.Contains(body, "invalid_param") {
		t.Fatalf("a malformed loc: %d %s", status, body)
	}
}

// TestWidgetLabelsInEveryLanguage: every language's answer has all the
// widget's words, and they differ from English where the language does.
func TestWidgetLabelsInEveryLanguage(t *testing.T) {
	env := newHarness(t, served())
	site := env.newSite(t)
	tn := env.install(t, site)
	env.me(t, site, "ada", "HELP")
	wid := env.widgetOf(t, tn.ID, "HELP")
	_, en := env.publicStatus(t, wid, "Accept-Language", "en")
	for _, lang := range []string{"de", "fr", "es", "pl", "pt-BR", "ja"} {
		r, s := env.publicStatus(t, wid, "Accept-Language", lang)
		var raw map[string]json.RawMessage
		r.decode(t, &raw)
		if s.Lang != lang || s.Labels.Online == "" || s.Labels.Offline == "" || s.Labels.Chat == "" || s.Labels.Login == "" ||
			s.Labels.Login == en.Labels.Login || s.Message == en.Message {
			t.Errorf("%s: %s", lang, r.body)
		}
	}
}
