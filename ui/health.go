package ui

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds the readiness check so a hung database makes /readyz fail fast rather than hang the probe.
const readyTimeout = time.Second

// handleHealthz is liveness: the process is up and serving. It touches no dependency, so a database outage does
// not get every replica restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok"))
}

// handleReadyz is readiness: whether this replica can serve logins now (its database is reachable). The cause of a
// failure goes to the log, not to the caller.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log(r.Context()).Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}`))
			return
		}
	}
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}
