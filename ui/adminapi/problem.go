package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/idempotency"
)

// problem is an RFC 9457 problem detail. Type is a short slug; it is
// written as the URN urn:twofold:problem:<slug>.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []fieldError `json:"errors,omitempty"`
	// RequestID ties the answer to the server's log line.
	RequestID string `json:"request_id,omitempty"`
	// ManagedBy: the object is read-only because this source manages it.
	ManagedBy  string `json:"managed_by,omitempty"`
	retryAfter int
}

// fieldError names one bad input field (a JSON field path such as
// redirect_uris[0]) and what is wrong with it.
type fieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func itoa(n int) string { return strconv.Itoa(n) }

func internalProblem() *problem {
	return &problem{Status: http.StatusInternalServerError, Type: "internal", Title: "Internal error", Detail: "Something went wrong; the request id identifies it in the server log."}
}

func (a *API) problem(w http.ResponseWriter, r *http.Request, p *problem) {
	p.RequestID = a.reqID(r.Context())
	p.Type = "urn:twofold:problem:" + p.Type
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.retryAfter > 0 {
		h.Set("Retry-After", itoa(p.retryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// problemFor turns a domain error into the problem the caller sees; an
// unexpected error is logged and shown as a generic 500.
func (a *API) problemFor(r *http.Request, err error) *problem {
	if fields := inputErrors(err); len(fields) > 0 {
		return &problem{Status: http.StatusBadRequest, Type: "invalid-input", Title: "The request has invalid fields", Errors: fields}
	}
	var managed *directory.ManagedError
	var conflict *idp.ConflictError
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		return bad.problem
	case errors.As(err, &managed):
		return &problem{Status: http.StatusConflict, Type: "read-only", Title: "Read-only object", Detail: managed.Error(), ManagedBy: managed.ManagedBy}
	case errors.Is(err, idp.ErrPreconditionFailed):
		return &problem{Status: http.StatusPreconditionFailed, Type: "precondition-failed", Title: "The resource has changed", Detail: "Someone changed it since you read it: read it again (new ETag) and retry."}
	case errors.As(err, &conflict):
		return &problem{Status: http.StatusConflict, Type: "conflict", Title: "Conflict", Detail: conflict.Reason}
	case errors.Is(err, idp.ErrNotFound):
		return &problem{Status: http.StatusNotFound, Type: "not-found", Title: "No such resource"}
	case errors.Is(err, idempotency.ErrKeyReused):
		return &problem{Status: http.StatusUnprocessableEntity, Type: "idempotency-key-reused", Title: "Idempotency-Key reused", Detail: "This Idempotency-Key was used for a different request."}
	case errors.Is(err, idempotency.ErrInProgress):
		return &problem{Status: http.StatusConflict, Type: "idempotency-in-progress", Title: "Request in progress", Detail: "A request with this Idempotency-Key is still being processed; retry shortly.", retryAfter: 1}
	}
	a.log.ErrorContext(r.Context(), "admin api", "method", r.Method, "path", r.URL.Path, "err", err)
	return internalProblem()
}

// inputErrors are the field errors in err.
func inputErrors(err error) []fieldError {
	var out []fieldError
	for _, e := range directory.FieldErrors(err) {
		out = append(out, fieldError{Field: e.Field, Detail: e.Message})
	}
	return out
}

// badRequest is a problem found by the HTTP layer itself (a malformed
// body, a bad cursor, a missing If-Match).
type badRequest struct{ problem *problem }

func (b *badRequest) Error() string { return b.problem.Title }

func fieldProblem(field, detail string) error {
	return &badRequest{&problem{Status: http.StatusBadRequest, Type: "invalid-input", Title: "The request has invalid fields", Errors: []fieldError{{field, detail}}}}
}
