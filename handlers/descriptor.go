package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Descriptor serves atlassian-connect.json, rendered once from the template
// with this deployment's base URL, key and name.
type Descriptor struct {
	body []byte
}

// NewDescriptor fills the template's {{baseUrl}}, {{key}} and {{name}} and
// checks that the result is still JSON.
func NewDescriptor(template []byte, baseURL, key, name string) (*Descriptor, error) {
	quote := func(s string) string {
		b, _ := json.Marshal(s) // a string always marshals
		return string(b[1 : len(b)-1])
	}
	r := strings.NewReplacer("{{baseUrl}}", quote(strings.TrimRight(baseURL, "/")), "{{key}}", quote(key), "{{name}}", quote(name))
	body := []byte(r.Replace(string(template)))
	if !json.Valid(body) {
		return nil, fmt.Errorf("descriptor: the rendered template is not valid JSON")
	}
	return &Descriptor{body: body}, nil
}

// Serve answers GET /atlassian-connect.json.
func (d *Descriptor) Serve(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.body)
}

// Bytes is the rendered descriptor.
func (d *Descriptor) Bytes() []byte { return d.body }
