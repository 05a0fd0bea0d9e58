package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"
)

// maxAPIBody bounds every JSON body of the agent API.
const maxAPIBody = 16 << 10

// decodeJSON reads one JSON object into dst strictly: unknown fields, wrong
// types, trailing data and oversized bodies are 4xx errors that name the
// problem, and nothing is changed.
func decodeJSON(c echo.Context, dst any) error {
	return decodeJSONUpTo(c, dst, maxAPIBody)
}

// decodeJSONUpTo is decodeJSON for a body of up to limit bytes.
func decodeJSONUpTo(c echo.Context, dst any, limit int64) error {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return apiError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	body := http.MaxBytesReader(c.Response(), r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &tooBig):
			return said(http.StatusRequestEntityTooLarge, "body_too_large", "error.body_larger_than", args{"Max": limit})
		case errors.As(err, &typeErr):
			if typeErr.Field == "" {
				return said(http.StatusBadRequest, "invalid_json", "json.not_object", nil)
			}
			return fieldError(typeErr.Field, jsonKind(typeErr), nil)
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return said(http.StatusBadRequest, "invalid_json", "json.syntax", nil)
		case errors.Is(err, io.EOF):
			return said(http.StatusBadRequest, "invalid_json", "json.empty", nil)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// The decoder quotes the name: json: unknown field "color".
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return fieldError(name, "field.unknown", nil)
		}
		return said(http.StatusBadRequest, "invalid_json", "json.syntax", nil)
	}
	if dec.More() {
		return said(http.StatusBadRequest, "invalid_json", "json.trailing", nil)
	}
	return nil
}

// jsonKind says in words what a field's Go type takes in JSON (the
// catalog message id), so that a decoder's type error reads as a
// sentence ("must be a whole number"), never as Go ("must be of type
// int").
func jsonKind(e *json.UnmarshalTypeError) string {
	t := e.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "field.must_be_bool"
	case reflect.String:
		return "field.must_be_text"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "field.must_be_whole_number"
	case reflect.Float32, reflect.Float64:
		return "field.must_be_number"
	case reflect.Slice, reflect.Array:
		return "field.must_be_list"
	}
	return "field.must_be_object"
}

// fieldError is a 400 that names the field at fault; id is the catalog
// message of what is wrong with it ("field.…"), worded in the caller's
// language.
func fieldError(field, id string, data args) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: "invalid_field", Field: field, ID: id, Data: data}
}
