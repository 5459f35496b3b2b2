package adminapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/twofold-idp/twofold/idp/directory"
)

// maxBodyBytes bounds every request body: the largest legitimate one is a
// client with a JWK set.
const maxBodyBytes = 64 << 10

// handler answers one operation; c carries what the wrapper read.
type handler func(r *http.Request, c *call) (*response, error)

// call is the request as the wrapper prepared it.
type call struct {
	body     []byte
	ifMatch  string // the version If-Match names (or directory.AnyVersion)
	stream   http.ResponseWriter
	streamed bool
}

// response is a JSON answer.
type response struct {
	Status   int
	Version  string // sent as the ETag
	Location string
	Body     any
}

func ok(v any, version string) (*response, error) {
	return &response{Status: http.StatusOK, Body: v, Version: version}, nil
}

func (a *API) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{stream: w}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				a.problem(w, r, &problem{Status: http.StatusRequestEntityTooLarge, Type: "too-large", Title: "Request body too large", Detail: fmt.Sprintf("At most %d bytes.", maxBodyBytes)})
				return
			}
			if err != nil {
				a.problem(w, r, &problem{Status: http.StatusBadRequest, Type: "invalid-input", Title: "The request body could not be read"})
				return
			}
			if len(bytes.TrimSpace(body)) > 0 && !isJSON(r.Header.Get("Content-Type")) {
				a.problem(w, r, &problem{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type", Title: "Send application/json"})
				return
			}
			c.body = body
		}
		if rt.kind == edit {
			v, err := ifMatch(r)
			if err != nil {
				a.problem(w, r, err.(*badRequest).problem)
				return
			}
			c.ifMatch = v
		}
		if rt.kind == create && r.Header.Get("Idempotency-Key") != "" {
			a.serveIdempotent(w, r, rt.h, c)
			return
		}
		resp, err := rt.h(r, c)
		if c.streamed {
			return
		}
		if err != nil {
			a.problem(w, r, a.problemFor(r, err))
			return
		}
		writeResponse(w, resp)
	}
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func writeResponse(w http.ResponseWriter, resp *response) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if resp.Version != "" {
		h.Set("ETag", etag(resp.Version))
	}
	if resp.Location != "" {
		h.Set("Location", resp.Location)
	}
	if resp.Body == nil {
		w.WriteHeader(resp.Status)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_ = json.NewEncoder(w).Encode(resp.Body)
}

// etag quotes a version as a strong entity tag (RFC 9110 §8.8.3).
func etag(version string) string { return `"` + version + `"` }

// ifMatch reads the version an edit is based on: If-Match is required
// (428, RFC 6585 §3); "*" accepts any current version; a weak tag never
// matches (If-Match uses the strong comparison, RFC 9110 §13.1.1).
func ifMatch(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	switch {
	case v == "":
		return "", &badRequest{&problem{Status: http.StatusPreconditionRequired, Type: "precondition-required", Title: "If-Match is required",
			Detail: "Send the ETag you read in If-Match, so that a concurrent change is not overwritten."}}
	case v == "*":
		return directory.AnyVersion, nil
	case strings.HasPrefix(v, "W/"):
		return "\x00weak", nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.Contains(v[1:len(v)-1], `"`) {
		return v[1 : len(v)-1], nil
	}
	return "", fieldProblem("If-Match", "must be one entity tag as sent in ETag, or *")
}

// decode reads a JSON body strictly into v: unknown fields and trailing
// data are errors that name the field.
func decode(c *call, v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return fieldProblem("body", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "body"
			}
			return fieldProblem(field, "must be "+jsonKind(te.Type.Kind().String()))
		case errors.As(err, &se):
			return fieldProblem("body", fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return fieldProblem(name, "is not a known field")
		}
		return fieldProblem("body", "is not valid JSON")
	}
	if dec.More() {
		return fieldProblem("body", "must hold one JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	}
	return "a number"
}

// Pagination: an opaque cursor names where the next page starts; limit is
// 1..maxLimit (default defaultLimit).
const (
	defaultLimit = 50
	maxLimit     = 200
)

func page(r *http.Request, kind string) (after string, limit int, err error) {
	limit = defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return "", 0, fieldProblem("limit", fmt.Sprintf("must be a whole number from 1 to %d", maxLimit))
		}
		limit = n
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		k, rest, ok := strings.Cut(string(b), ":")
		if err != nil || !ok || k != kind || rest == "" {
			return "", 0, fieldProblem("cursor", "is not a cursor of this listing (use next_cursor as given)")
		}
		after = rest
	}
	return after, limit, nil
}

func cursor(kind, after string) string {
	if after == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + after))
}

// list is a page of items.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func mapItems[S, T any](in []S, f func(S) T) []T {
	out := make([]T, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}
