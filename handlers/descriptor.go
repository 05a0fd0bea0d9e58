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

// DescriptorOption changes the rendered descriptor.
type DescriptorOption func(string) (string, error)

// WithLicensing sets the descriptor's enableLicensing (false in the
// template): Jira then checks the site's license and sends it to the
// pages as lic (license.go).
func WithLicensing(on bool) DescriptorOption {
	return func(body string) (string, error) {
		const off = `"enableLicensing": false`
		if strings.Count(body, off) != 1 {
			return "", fmt.Errorf("descriptor: the template must say %s once", off)
		}
		if on {
			body = strings.Replace(body, off, `"enableLicensing": true`, 1)
		}
		return body, nil
	}
}

// NewDescriptor fills the template's {{baseUrl}}, {{key}} and {{name}},
// applies the options and checks that the result is still JSON.
func NewDescriptor(template []byte, baseURL, key, name string, opts ...DescriptorOption) (*Descriptor, error) {
	quote := func(s string) string {
		b, _ := json.Marshal(s) // a string always marshals
		return string(b[1 : len(b)-1])
	}
	r := strings.NewReplacer("{{baseUrl}}", quote(strings.TrimRight(baseURL, "/")), "{{key}}", quote(key), "{{name}}", quote(name))
	rendered := r.Replace(string(template))
	for _, o := range opts {
		var err error
		if rendered, err = o(rendered); err != nil {
			return nil, err
		}
	}
	body := []byte(rendered)
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
