package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
			return badRequest("invalid_field", fmt.Sprintf("field %q must be of type %s", typeErr.Field, typeErr.Type))
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("invalid_json", "the body is not valid JSON")
		case errors.Is(err, io.EOF):
			return badRequest("invalid_json", "a JSON body is required")
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest("invalid_field", "unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("invalid_json", "the body is not valid JSON")
	}
	if dec.More() {
		return badRequest("invalid_json", "the body must hold exactly one JSON object")
	}
	return nil
}

// fieldError is a 400 that names the field at fault.
func fieldError(field, message string) *APIError {
	return badRequest("invalid_field", field+": "+message)
}
