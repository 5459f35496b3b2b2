package ui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
)

// maxRequestIDLen bounds an incoming X-Request-Id: it goes into every log line of the request.
const maxRequestIDLen = 64

// requestID accepts a well-formed incoming X-Request-Id (so a proxy's id ties its logs to ours) or makes one, echoes
// it in the response, and puts it and a logger carrying it in the context.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey, s.logger.With("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID allows 1..64 characters of [A-Za-z0-9._-]: enough for UUIDs and trace ids, nothing that could
// forge a log line or a header.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+); it crashes the program instead.
	return hex.EncodeToString(b[:])
}

// requestIDFrom returns the request id the requestID middleware put in ctx, or "".
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// log returns the request's logger (it carries request_id), or the server's logger outside a request.
func (s *Server) log(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return s.logger
}

// contentSecurityPolicy allows only our own scripts, styles and images. There is deliberately no form-action:
// Chrome applies it to every redirect after a form POST, which would block the login's redirect back to the
// relying party. There is never 'unsafe-inline'.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries, whatever writes it.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.setSecurityHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

func (s *Server) setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// recoverer turns a panic into a logged error and the branded 500 page, so one bad request does not take the
// process down and the visitor sees only the request id.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := wrapWriter(w, r)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v) // a deliberate abort: let net/http close the connection quietly
			}
			s.log(r.Context()).Error("panic serving request",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()),
				"method", r.Method, "path", r.URL.Path)
			if ww.Status() != 0 {
				// The status line is already on the wire: the best we can do is abort the connection so the
				// client sees a broken response rather than a truncated one that looks complete.
				panic(http.ErrAbortHandler)
			}
			// Drop whatever the handler had set (cookies, content type, caching) before answering.
			h := ww.Header()
			for k := range h {
				delete(h, k)
			}
			s.setSecurityHeaders(h)
			h.Set("X-Request-Id", requestIDFrom(r.Context()))
			s.renderError(ww, r, http.StatusInternalServerError, errorPage{
				Title:   "Something went wrong",
				Message: "An unexpected error stopped this request. Please try again; if it keeps happening, give the reference below to your administrator.",
			})
		}()
		next.ServeHTTP(ww, r)
	})
}

// accessLog logs one line per request at info. It logs the path only: query strings carry authorization codes,
// setup tokens and the like, which must never reach the logs.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := wrapWriter(w, r)
		returned := false
		// Deferred without recover so that a panic's stack stays intact for the recoverer; a request that did not
		// return normally is logged with the 500 the recoverer is about to send.
		defer func() {
			status := finalStatus(ww, returned)
			s.log(r.Context()).LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("route", routeLabel(r)),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("remote_ip", s.clientIP(r)),
			)
		}()
		next.ServeHTTP(ww, r)
		returned = true
	})
}

// wrapWriter reuses the status-recording writer an outer middleware installed, so that every layer sees the same
// status and byte count and the response is wrapped once.
func wrapWriter(w http.ResponseWriter, r *http.Request) middleware.WrapResponseWriter {
	if ww, ok := w.(middleware.WrapResponseWriter); ok {
		return ww
	}
	return middleware.NewWrapResponseWriter(w, r.ProtoMajor)
}

// finalStatus is the status the client gets: 200 when the handler wrote nothing, 500 when it panicked before
// writing (the recoverer answers that after the inner middleware have finished).
func finalStatus(ww middleware.WrapResponseWriter, returned bool) int {
	switch status := ww.Status(); {
	case status != 0:
		return status
	case !returned:
		return http.StatusInternalServerError
	default:
		return http.StatusOK
	}
}

// routeLabel is the chi route pattern that matched, e.g. "/static/*", or "unmatched"; never the raw path, whose
// values are unbounded (and may be secret).
func routeLabel(r *http.Request) string {
	if p := chi.RouteContext(r.Context()).RoutePattern(); p != "" {
		return p
	}
	return "unmatched"
}

// remoteIP is the peer address of the connection. X-Forwarded-For is not trusted: nothing here knows which
// proxies are ours.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientIP is the address of the client behind any trusted proxies: the
// peer's address, or — when the peer is a trusted proxy (a load balancer in
// front of the replicas) — the rightmost X-Forwarded-For entry that is not
// itself a trusted proxy. Without trusted proxies every client would look
// like the load balancer, and per-address sign-in throttling would lock
// out everyone at once. Entries a client writes itself are never trusted:
// only the rightmost untrusted one, appended by the first trusted proxy, is.
// ClientIP is the client's address as every page sees it (X-Forwarded-For
// only from a trusted proxy), for handlers mounted on Router.
func (s *Server) ClientIP(r *http.Request) string { return s.clientIP(r) }

// RequestID is the id the request middleware gave the request ("" outside one).
func RequestID(ctx context.Context) string { return requestIDFrom(ctx) }

func (s *Server) clientIP(r *http.Request) string {
	peer := remoteIP(r)
	if !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !s.trusted(hop) {
			if _, err := netip.ParseAddr(hop); err != nil {
				return peer // malformed: keep what we know
			}
			return hop
		}
		peer = hop
	}
	return peer
}

func (s *Server) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
