package handlers

import (
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"agentpresence/models"
)

// What a project offers customers while someone is online: a chat link
// and the online text, and both messages per language. The project
// settings API reads and writes them beside the widget's other settings.

// Limits of the chat settings.
const (
	maxChatURLLen = 1000 // models.Project.ChatURL's column
	// maxSettingsBody bounds PUT …/settings: two messages of 1,000
	// characters in each language, up to three bytes each in UTF-8.
	maxSettingsBody = 64 << 10
)

// chatSettings is the JSON of a project's chat link and texts, as the
// settings page shows them.
type chatSettings struct {
	// ChatURL is the project's own link; empty: DefaultChatURL.
	ChatURL        string `json:"chatUrl"`
	DefaultChatURL string `json:"defaultChatUrl"`
	// OnlineMessage is the project's own online text; empty: the built-in
	// DefaultOnlineMessage (in the caller's language).
	OnlineMessage        string `json:"onlineMessage"`
	DefaultOnlineMessage string `json:"defaultOnlineMessage"`
	// Translations are both messages per language, by tag.
	Translations map[string]translationJSON `json:"translations"`
	// Languages are the tags Translations may have.
	Languages []string `json:"languages"`
}

// translationJSON is a project's two messages in one language.
type translationJSON struct {
	Unavailable string `json:"unavailable"`
	Online      string `json:"online"`
}

// toChatSettings shows a project's chat settings, with the defaults in
// locale l.
func toChatSettings(msgs *Messages, p models.Project, defaultURL string, l Locale) chatSettings {
	online, _ := msgs.Text(l, "widget.online", nil)
	cs := chatSettings{ChatURL: p.ChatURL, DefaultChatURL: defaultURL, OnlineMessage: p.OnlineMessage,
		DefaultOnlineMessage: online, Translations: map[string]translationJSON{}, Languages: Locales()}
	for tag, t := range p.Translations {
		cs.Translations[tag] = translationJSON{Unavailable: t.Unavailable, Online: t.Online}
	}
	return cs
}

// portalRequestForm is a project's default chat link: the request form of
// its portal, where a customer can always write.
func portalRequestForm(t models.Tenant, p models.Project) string {
	if p.ServiceDeskID == "" {
		return ""
	}
	return strings.TrimRight(t.BaseURL, "/") + "/servicedesk/customer/portal/" + url.PathEscape(p.ServiceDeskID)
}

// applyChatSettings checks the chat settings of PUT …/settings and puts
// them into ps; one that is absent (nil) is left nil, which keeps what the
// project has. The first problem is a field error.
func applyChatSettings(ps *models.ProjectSettings, chatURL, onlineMessage *string, translations map[string]translationJSON) error {
	if chatURL != nil {
		u := strings.TrimSpace(*chatURL)
		if u != "" && !validChatURL(u) {
			return fieldError("chatUrl", "field.https_url", args{"Max": maxChatURLLen})
		}
		ps.ChatURL = &u
	}
	if onlineMessage != nil {
		m, err := customerText("onlineMessage", *onlineMessage)
		if err != nil {
			return err
		}
		ps.OnlineMessage = &m
	}
	if translations != nil {
		tags := Locales()
		out := make(map[string]models.Translation, len(translations))
		for tag, t := range translations {
			if !slices.Contains(tags, tag) {
				return fieldError("translations", "field.unknown_language", args{"List": strings.Join(tags, ", ")})
			}
			unavailable, err := customerText("translations."+tag+".unavailable", t.Unavailable)
			if err != nil {
				return err
			}
			online, err := customerText("translations."+tag+".online", t.Online)
			if err != nil {
				return err
			}
			if unavailable != "" || online != "" {
				out[tag] = models.Translation{Unavailable: unavailable, Online: online}
			}
		}
		ps.Translations = &out
	}
	return nil
}

// customerText checks a message customers read: plain text (line breaks
// allowed) of at most maxMessageLen characters, trimmed.
func customerText(field, v string) (string, error) {
	m := strings.TrimSpace(v)
	if utf8.RuneCountInString(m) > maxMessageLen {
		return "", fieldError(field, "problem.max_chars", args{"Max": maxMessageLen})
	}
	if !utf8.ValidString(m) || strings.IndexFunc(m, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		return "", fieldError(field, "field.plain_text", nil)
	}
	return m, nil
}

// validChatURL accepts an absolute https link to a named host, with no
// user part and nothing a browser would read otherwise (spaces, control
// characters): customers' browsers open it from the widget.
func validChatURL(raw string) bool {
	if len(raw) > maxChatURLLen || strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Opaque == "" &&
		!strings.Contains(u.Host, "*")
}
