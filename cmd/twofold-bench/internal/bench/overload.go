package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OverloadReport is what a burst of simultaneous sign-ins got, and how the
// server held up meanwhile.
type OverloadReport struct {
	SignIns int `json:"sign_ins"`
	// Succeeded reached the client with a code; TooMany (429) and
	// Unavailable (503) were refused, WithRetryAfter of them saying when to
	// come back; Other is anything else (errors).
	Succeeded      int      `json:"succeeded"`
	TooMany        int      `json:"status_429"`
	Unavailable    int      `json:"status_503"`
	WithRetryAfter int      `json:"with_retry_after"`
	Other          int      `json:"other"`
	OtherSamples   []string `json:"other_samples,omitempty"`
	Seconds        float64  `json:"seconds"`
	// Discovery was requested in a loop during the burst.
	Discovery Result `json:"discovery"`
	// MaxRSSBytes is the server's largest resident memory seen on /metrics
	// (process_resident_memory_bytes) during the burst; 0: not readable.
	MaxRSSBytes int64 `json:"max_rss_bytes"`
}

// Overload starts n password sign-ins at the same moment, each in a new
// browser, while one more client requests discovery in a loop and another
// samples the server's memory.
func Overload(ctx context.Context, c Config, n int) (*OverloadReport, error) {
	if c.Setup == nil {
		return nil, errNoSetup
	}
	w, err := newWorld(ctx, c.Issuer, n, c.HTTPTimeout, c.Setup, time.Now)
	if err != nil {
		return nil, err
	}
	defer w.transport.CloseIdleConnections()
	r := &OverloadReport{SignIns: n}
	type result struct {
		status     int
		retryAfter bool
		err        error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var burst sync.WaitGroup
	for i := range results {
		burst.Go(func() {
			<-start
			results[i].status, results[i].retryAfter, results[i].err = overloadSignIn(ctx, w)
		})
	}
	done := make(chan struct{})
	var side sync.WaitGroup
	var disc tally
	side.Go(func() {
		<-start
		probe, _ := prepareDiscovery(ctx, w, 0)
		for {
			select {
			case <-done:
				return
			default:
			}
			disc.add(probe(ctx, ctx))
		}
	})
	side.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := w.metric(ctx, "process_resident_memory_bytes"); err == nil {
				r.MaxRSSBytes = max(r.MaxRSSBytes, int64(v))
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	began := time.Now()
	close(start)
	burst.Wait()
	elapsed := time.Since(began)
	close(done)
	side.Wait()
	r.Seconds = elapsed.Seconds()
	r.Discovery = disc.result("discovery", elapsed)
	others := map[string]int{}
	for _, res := range results {
		switch {
		case res.err != nil:
			r.Other++
			others[res.err.Error()]++
		case res.status == http.StatusOK:
			r.Succeeded++
		case res.status == http.StatusTooManyRequests:
			r.TooMany++
		case res.status == http.StatusServiceUnavailable:
			r.Unavailable++
		}
		if res.retryAfter {
			r.WithRetryAfter++
		}
	}
	r.OtherSamples = topErrors(others)
	return r, nil
}

// overloadSignIn is one sign-in of the burst: 200 when the client got its
// code, else the status that refused it (429, 503) with whether it said
// Retry-After; anything else is an error.
func overloadSignIn(ctx context.Context, w *world) (int, bool, error) {
	a := newAuthorization(&w.plain)
	b := w.browser()
	p, err := b.get(ctx, a.url())
	if err != nil {
		return 0, false, err
	}
	if refused(p) {
		return p.status, p.header.Get("Retry-After") != "", nil
	}
	u := w.users.any()
	if p, err = b.submit(ctx, p, "login", map[string]string{"username": u.Username, "password": u.Password}); err != nil {
		return 0, false, err
	}
	if refused(p) {
		return p.status, p.header.Get("Retry-After") != "", nil
	}
	if _, err := w.code(a, p); err != nil {
		return 0, false, err
	}
	return http.StatusOK, false, nil
}

func refused(p *page) bool {
	return p.status == http.StatusTooManyRequests || p.status == http.StatusServiceUnavailable
}

// metric reads one unlabelled gauge from the issuer's /metrics.
func (w *world) metric(ctx context.Context, name string) (float64, error) {
	vs, err := w.metrics(ctx, name)
	if err != nil {
		return 0, err
	}
	return vs[name], nil
}

// metrics reads unlabelled samples of the named metrics from /metrics.
func (w *world) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.issuer+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	if len(out) == 0 {
		return nil, errors.New("/metrics: none of " + strings.Join(names, ", "))
	}
	return out, sc.Err()
}

// WriteText prints r for people.
func (r *OverloadReport) WriteText(out io.Writer) {
	fmt.Fprintf(out, "%d simultaneous sign-ins in %.1f s: %d succeeded, %d got 429, %d got 503 (%d of the refusals with Retry-After), %d other\n",
		r.SignIns, r.Seconds, r.Succeeded, r.TooMany, r.Unavailable, r.WithRetryAfter, r.Other)
	for _, s := range r.OtherSamples {
		fmt.Fprintf(out, "  other: %s\n", s)
	}
	fmt.Fprintf(out, "discovery meanwhile: %d requests, %d errors, p50 %.2f ms, p99 %.2f ms\n",
		r.Discovery.Requests, r.Discovery.Errors, r.Discovery.P50, r.Discovery.P99)
	fmt.Fprintf(out, "server resident memory: at most %.0f MiB\n", float64(r.MaxRSSBytes)/(1<<20))
}
