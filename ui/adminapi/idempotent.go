package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Creates are idempotent under a client-supplied Idempotency-Key
// (draft-ietf-httpapi-idempotency-key-header): the first request with a key
// runs; a retry with the same key and body gets the same response (marked
// Idempotent-Replayed); the same key with another body is 422; while the
// first is still running, 409 with Retry-After.

// stored is the response kept for replay.
type stored struct {
	Status   int             `json:"status"`
	ETag     string          `json:"etag,omitempty"`
	Location string          `json:"location,omitempty"`
	Type     string          `json:"type"`
	Body     json.RawMessage `json:"body,omitempty"`
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (a *API) serveIdempotent(w http.ResponseWriter, r *http.Request, h handler, c *call) {
	key := r.Header.Get("Idempotency-Key")
	if !validIdempotencyKey(key) {
		a.problem(w, r, fieldProblem("Idempotency-Key", "must be 1-255 visible ASCII characters").(*badRequest).problem)
		return
	}
	scope := a.actor(r).ID + " " + r.Method + " " + r.URL.Path
	replay, err := a.idem.Begin(r.Context(), scope, key, c.body)
	if err != nil {
		a.problem(w, r, a.problemFor(r, err))
		return
	}
	if replay != nil {
		var s stored
		if err := json.Unmarshal(replay.Response, &s); err != nil {
			a.problem(w, r, a.problemFor(r, err))
			return
		}
		hd := w.Header()
		hd.Set("Idempotent-Replayed", "true")
		hd.Set("Cache-Control", "no-store")
		if s.ETag != "" {
			hd.Set("ETag", s.ETag)
		}
		if s.Location != "" {
			hd.Set("Location", s.Location)
		}
		if len(s.Body) > 0 {
			hd.Set("Content-Type", s.Type)
		}
		w.WriteHeader(s.Status)
		w.Write(s.Body)
		return
	}
	rec := &recorder{header: http.Header{}}
	resp, err := h(r, c)
	if err != nil {
		a.problem(rec, r, a.problemFor(r, err))
	} else {
		writeResponse(rec, resp)
	}
	if rec.status >= 500 {
		if err := a.idem.Abandon(r.Context(), scope, key); err != nil {
			a.log.ErrorContext(r.Context(), "admin api: abandon idempotency key", "err", err)
		}
	} else {
		s := stored{Status: rec.status, ETag: rec.header.Get("ETag"), Location: rec.header.Get("Location"),
			Type: rec.header.Get("Content-Type"), Body: bytes.TrimRight(rec.body.Bytes(), "\n")}
		b, _ := json.Marshal(s)
		if err := a.idem.Finish(r.Context(), scope, key, rec.status, b); err != nil {
			a.log.ErrorContext(r.Context(), "admin api: store idempotent response", "err", err)
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
}

// recorder buffers a response so it can be stored before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
