package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// maxAPIBody bounds how much of the API's answer the demo keeps.
const maxAPIBody = 8 << 10

// apiResult is one call to the protected API, as the client saw it.
type apiResult struct {
	At              time.Time
	Status          int
	WWWAuthenticate []string
	Body            string
}

// handleCallAPI calls the protected API with the session's access token and shows the answer.
func (s *server) handleCallAPI(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.currentSession(r)
	if !ok {
		http.Redirect(w, r, s.path("/"), http.StatusSeeOther)
		return
	}
	s.sessions.setAPIResult(sess.id, s.callAPI(r.Context(), sess.accessToken))
	http.Redirect(w, r, s.path("/")+"#api-result", http.StatusSeeOther)
}

// callAPI sends GET /api/report with the access token, as any client of the API would. The resource server is
// part of this handler, so the request is served in-process: the demo then works wherever it is mounted, even
// where BaseURL is not reachable from the server itself (behind a proxy, in a container).
func (s *server) callAPI(ctx context.Context, accessToken string) *apiResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/api/report", nil)
	if err != nil {
		s.log.ErrorContext(ctx, "demo: build API request", "err", err)
		return &apiResult{At: s.now(), Status: http.StatusInternalServerError}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	rec := &responseCapture{header: http.Header{}}
	s.resources.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &apiResult{
		At: s.now(), Status: rec.status, WWWAuthenticate: rec.header.Values("WWW-Authenticate"),
		Body: rec.body.String(),
	}
}

// responseCapture is the http.ResponseWriter of an in-process call.
type responseCapture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *responseCapture) Header() http.Header { return c.header }

func (c *responseCapture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *responseCapture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	room := maxAPIBody - c.body.Len()
	if room <= 0 {
		return 0, io.ErrShortWrite
	}
	if len(p) > room {
		c.body.Write(p[:room])
		return room, io.ErrShortWrite
	}
	return c.body.Write(p)
}
