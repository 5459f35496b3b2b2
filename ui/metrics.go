package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the counters and histograms of the HTTP layer. Labels only ever take values from bounded sets.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "twofold_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_logins_total",
			Help: "Login attempts, by outcome.",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.logins} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("ui: register metrics: %w", err)
		}
	}
	return m, nil
}

// LoginOutcome counts one login by its outcome (success, bad_credentials, throttled, …). outcome must come from
// a fixed set of constants in the caller, never from request input: each value is a time series.
func (m *Metrics) LoginOutcome(outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(outcome).Inc()
}

// instrument counts and times every request by route pattern; see routeLabel for why never the raw path.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := wrapWriter(w, r)
		returned := false
		defer func() { // no recover: see accessLog
			route, method := routeLabel(r), methodLabel(r.Method)
			s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(finalStatus(ww, returned))).Inc()
			s.metrics.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
		returned = true
	})
}

// methodLabel maps the methods we know to themselves and anything else a client invents to OTHER.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions:
		return m
	default:
		return "OTHER"
	}
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: promErrorLog{s},
	})
}

// promErrorLog sends promhttp's gathering errors to our logger.
type promErrorLog struct{ s *Server }

func (l promErrorLog) Println(v ...any) { l.s.logger.Error("metrics: " + fmt.Sprint(v...)) }
