package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Report is a run's results, as printed and as written with --json.
type Report struct {
	Issuer          string    `json:"issuer"`
	Workers         int       `json:"workers"`
	DurationSeconds float64   `json:"duration_seconds,omitempty"` // per path
	Count           int       `json:"count,omitempty"`            // requests per path
	Users           int       `json:"users"`
	Started         time.Time `json:"started"`
	Machine         Machine   `json:"machine"` // where the benchmark ran
	Paths           []Result  `json:"paths"`
}

// Machine describes the benchmark's host.
type Machine struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
}

// Result is one path's numbers. Latencies are of successful requests;
// req/s counts every request over the path's wall time.
type Result struct {
	Path     string  `json:"path"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"req_per_s"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	// AMR is the amr of a verified sign-in (password and totp paths).
	AMR []string `json:"amr,omitempty"`
	// TOTPWaitSeconds is how long workers waited for an account with an
	// unused TOTP step (seed more accounts when it is large).
	TOTPWaitSeconds float64 `json:"totp_wait_seconds,omitempty"`
	// ErrorSamples are the most frequent error messages with their counts.
	ErrorSamples []string `json:"error_samples,omitempty"`
	Ops          []Result `json:"ops,omitempty"` // the mix, per path drawn
}

func (t *tally) result(name string, elapsed time.Duration) Result {
	lat := slices.Clone(t.latencies)
	slices.Sort(lat)
	n := len(lat) + t.errors
	r := Result{Path: name, Requests: n, Errors: t.errors, Seconds: elapsed.Seconds(), AMR: t.amr,
		P50: ms(percentile(lat, 50)), P95: ms(percentile(lat, 95)), P99: ms(percentile(lat, 99))}
	if elapsed > 0 {
		r.PerSec = float64(n) / elapsed.Seconds()
	}
	r.ErrorSamples = topErrors(t.errSeen)
	return r
}

// topErrors is the five most frequent messages with their counts.
func topErrors(seen map[string]int) []string {
	msgs := slices.SortedFunc(maps.Keys(seen), func(a, b string) int {
		return cmp.Or(seen[b]-seen[a], cmp.Compare(a, b))
	})
	var out []string
	for _, m := range msgs[:min(len(msgs), 5)] {
		out = append(out, fmt.Sprintf("%d× %s", seen[m], m))
	}
	return out
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteTable prints one row per path (and per path drawn in a mix), then
// the most frequent errors.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\trequests\terrors\treq/s\tp50 ms\tp95 ms\tp99 ms\t")
	row := func(name string, x Result) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t\n", name, x.Requests, x.Errors, x.PerSec, x.P50, x.P95, x.P99)
	}
	for _, p := range r.Paths {
		row(p.Path, p)
		for _, o := range p.Ops {
			row("  "+p.Path+"/"+o.Path, o)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Paths {
		if p.TOTPWaitSeconds >= 0.5 {
			fmt.Fprintf(w, "%s: workers waited %.1f s in all for an account with an unused TOTP step (%d accounts; seed more)\n",
				p.Path, p.TOTPWaitSeconds, r.Users)
		}
		for _, e := range p.ErrorSamples {
			fmt.Fprintf(w, "%s error: %s\n", p.Path, e)
		}
	}
	return nil
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
