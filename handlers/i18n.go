package handlers

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"agentpresence/handlers/bounded"
	"agentpresence/models/schedule"
)

// The server's message catalogs, one JSON file per language
// (handlers/i18n/<tag>.json): every sentence the service answers people
// in, by id. The pages have catalogs of their own (static/i18n).
//
//go:embed i18n/*.json
var serverCatalogs embed.FS

// Locale is one of the languages the service speaks, an index into
// Locales.
type Locale uint8

// The languages, in the order of Locales.
const (
	English Locale = iota
	German
	French
	Spanish
	Polish
	PortugueseBR
	Japanese
	numLocales
)

// Locales lists the language tags the service speaks, by Locale; English
// is the default, the language of any request that asks for none of them.
func Locales() []string {
	return []string{"en", "de", "fr", "es", "pl", "pt-BR", "ja"}
}

// String is the locale's language tag.
func (l Locale) String() string {
	if l >= numLocales {
		return "en"
	}
	return Locales()[l]
}

// Limits of what is read from a request to choose its language.
const (
	// maxAcceptLanguageLen bounds the Accept-Language header that is
	// parsed (browsers send 20 to 80 bytes); a longer one is answered in
	// English without being parsed or kept.
	maxAcceptLanguageLen = 256
	// maxLanguageTagLen bounds a language tag given as a parameter
	// (Jira's loc, the widget's lang): BCP 47's longest useful tags.
	maxLanguageTagLen = 35
	// maxNegotiated bounds the Accept-Language values remembered with the
	// language they chose.
	maxNegotiated = 10_000
)

// Messages words the service's answers in the requester's language: the
// errors of the API, the customers' widget texts and the portal footer.
// It is built once from the embedded catalogs and is safe for concurrent
// use.
type Messages struct {
	localizers [numLocales]*i18n.Localizer
	ids        map[string]bool // every message id of the English catalog
	matcher    language.Matcher
	// negotiated remembers which locale an Accept-Language value chose:
	// customers' polls repeat a handful of values, and parsing one costs
	// more than the rest of the public status answer.
	negotiated *bounded.Cache[string, Locale]
}

// NewMessages parses the embedded catalogs. now is the clock of its
// bounded cache.
func NewMessages(now func() time.Time) (*Messages, error) {
	bundle := i18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	tags := make([]language.Tag, 0, numLocales)
	m := &Messages{ids: map[string]bool{}}
	for l := range numLocales {
		file := "i18n/" + l.String() + ".json"
		buf, err := fs.ReadFile(serverCatalogs, file)
		if err != nil {
			return nil, fmt.Errorf("messages: %w", err)
		}
		mf, err := bundle.ParseMessageFileBytes(buf, path.Base(file))
		if err != nil {
			return nil, fmt.Errorf("messages: %s: %w", file, err)
		}
		if l == English {
			for _, msg := range mf.Messages {
				m.ids[msg.ID] = true
			}
		}
		tags = append(tags, language.MustParse(l.String()))
		m.localizers[l] = i18n.NewLocalizer(bundle, l.String())
	}
	m.matcher = language.NewMatcher(tags)
	m.negotiated = bounded.New(bounded.Config[string, Locale]{MaxWeight: maxNegotiated, Now: now})
	return m, nil
}

// mustMessages is NewMessages for the places that cannot fail: the
// catalogs are embedded in the binary and checked by the tests.
func mustMessages(now func() time.Time) *Messages {
	m, err := NewMessages(now)
	if err != nil {
		panic(err)
	}
	return m
}

// Negotiate chooses the locale of an Accept-Language header ("de-DE,de;q=
// 0.9,en;q=0.8"), or of a language tag: the best match among Locales,
// English when none matches. The value is checked before it is parsed or
// kept: too long, or with a character no such header has, is English.
func (m *Messages) Negotiate(accept string) Locale {
	if accept == "" || len(accept) > maxAcceptLanguageLen || !acceptLanguageChars(accept) {
		return English
	}
	if l, ok := m.negotiated.Get(accept); ok {
		return l
	}
	l := English
	if tags, _, err := language.ParseAcceptLanguage(accept); err == nil && len(tags) > 0 {
		if _, i, conf := m.matcher.Match(tags...); conf != language.No {
			l = Locale(i)
		}
	}
	m.negotiated.Set(accept, l)
	return l
}

// acceptLanguageChars: what RFC 9110's Accept-Language is made of
// (language ranges, "*", weights).
func acceptLanguageChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-*,;=. ", c) >= 0) {
			return false
		}
	}
	return true
}

// validLanguageTag is the shape of a language tag given as a parameter:
// Jira's loc ("en-GB", also written "en_GB") or a widget's lang ("de",
// "pt-BR"). Whether it is a language we speak is decided later: one we
// do not speak is answered in English.
func validLanguageTag(s string) bool {
	if len(s) < 2 || len(s) > maxLanguageTagLen || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Tag chooses the locale of a language tag checked by validLanguageTag
// (Jira writes "en_GB" for en-GB).
func (m *Messages) Tag(tag string) Locale {
	if !validLanguageTag(tag) {
		return English
	}
	return m.Negotiate(strings.ReplaceAll(tag, "_", "-"))
}

// args is the data of a message: the values its template names.
type args = map[string]any

// Text words message id in locale l with data; a language that lacks it
// falls back to English. ok is false for an id no catalog has.
func (m *Messages) Text(l Locale, id string, data args) (text string, ok bool) {
	if l >= numLocales {
		l = English
	}
	if !m.ids[id] {
		return "", false
	}
	cfg := &i18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if n, ok := data["Count"]; ok {
		cfg.PluralCount = n
	}
	text, err := m.localizers[l].Localize(cfg)
	if err != nil && text == "" {
		return "", false
	}
	return text, true
}

// errorText words an error's message in locale l. It is the one
// translation step of every answered error, keyed by the error's code:
// an error that names its catalog message (ID) is worded by it; one that
// does not is worded by "error.<code>" when the catalog has that id,
// which it has only for codes that mean one thing everywhere
// (rate_limited, conflict…); any other answers the English message it
// carries. A field's or a parameter's error keeps its name in front
// ("reason: …"), which pages read to put the message beside the input.
func (m *Messages) errorText(l Locale, e *APIError) string {
	msg := e.Message
	if m != nil {
		id := e.ID
		if id == "" {
			id = "error." + e.Code
		}
		if text, ok := m.Text(l, id, e.Data); ok {
			msg = text
		}
	}
	if msg == "" {
		msg = e.ID // a message id no catalog has: a mistake the catalog test catches
	}
	if e.Field != "" {
		return e.Field + ": " + msg
	}
	return msg
}

// requestLocale is the language a request asks for: the page's or the
// widget's explicit choice (a language tag), else its Accept-Language,
// which also words the refusal of a malformed tag.
func (m *Messages) requestLocale(tag, accept string) Locale {
	if validLanguageTag(tag) {
		return m.Tag(tag)
	}
	return m.Negotiate(accept)
}

// callerLocale is the language of a request: ?lang= (a widget's choice),
// else Jira's ?loc= (a page's user), else its Accept-Language (the pages
// send theirs with every API call). Each was checked at the edge.
func (m *Messages) callerLocale(c echo.Context) Locale {
	if m == nil {
		return English
	}
	r := c.Request()
	var tag string
	if r.URL.RawQuery != "" { // customers' polls have none: no parsing
		q := c.QueryParams()
		if tag = q.Get("lang"); tag == "" {
			tag = q.Get("loc")
		}
	}
	return m.requestLocale(tag, r.Header.Get("Accept-Language"))
}

// scheduleError answers a schedule's validation error beside the field it
// names, worded by its code ("schedule.bad_clock"); a code the catalog
// lacks answers the schedule's English message.
func scheduleError(v *schedule.ValidationError) *APIError {
	e := fieldError(v.Field, "", v.Args)
	if v.Code != "" {
		e.ID = "schedule." + v.Code
	}
	e.Message = v.Message
	return e
}
