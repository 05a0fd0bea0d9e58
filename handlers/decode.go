package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
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
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return apiError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	body := http.MaxBytesReader(c.Response(), r.Body, maxAPIBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &tooBig):
			return apiError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", maxAPIBody))
		case errors.As(err, &typeErr):
			if typeErr.Field == "" {
				return badRequest("invalid_json", "The body must be a JSON object.")
			}
			return fieldError(typeErr.Field, "must be "+jsonKind(typeErr))
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("invalid_json", "The body is not valid JSON.")
		case errors.Is(err, io.EOF):
			return badRequest("invalid_json", "A JSON body is required.")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// The decoder quotes the name: json: unknown field "color".
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return fieldError(name, "is not a field of this request")
		}
		return badRequest("invalid_json", "The body is not valid JSON.")
	}
	if dec.More() {
		return badRequest("invalid_json", "The body must hold exactly one JSON object.")
	}
	return nil
}

// jsonKind says in words what a field's Go type takes in JSON, so that a
// decoder's type error reads as a sentence ("must be a whole number"),
// never as Go ("must be of type int").
func jsonKind(e *json.UnmarshalTypeError) string {
	t := e.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text in quotes"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// fieldError is a 400 that names the field at fault.
func fieldError(field, message string) *APIError {
	return badRequest("invalid_field", field+": "+message)
}
