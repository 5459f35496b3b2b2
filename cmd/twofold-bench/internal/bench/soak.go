package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// soakMetrics are what a soak watches stay flat.
var soakMetrics = []string{"process_resident_memory_bytes", "go_goroutines", "twofold_db_open_connections", "twofold_db_in_use_connections"}

// SoakSample is the server's state at one moment of a soak.
type SoakSample struct {
	AtSeconds  float64 `json:"at_seconds"`
	RSSBytes   int64   `json:"rss_bytes"`
	Goroutines int     `json:"goroutines"`
	DBOpen     int     `json:"db_open_connections"`
	DBInUse    int     `json:"db_in_use_connections"`
}

// SoakReport is a long mixed run with the server's memory, goroutines and
// database connections sampled along the way.
type SoakReport struct {
	Mix     Result       `json:"mix"`
	Samples []SoakSample `json:"samples"`
}

// Soak runs the mix for c.Duration, sampling /metrics every `every`.
func Soak(ctx context.Context, c Config, every time.Duration) (*SoakReport, error) {
	c.Paths, c.Count = []string{"mix"}, 0
	r := &SoakReport{}
	w, err := newWorld(ctx, c.Issuer, 1, c.HTTPTimeout, nil, time.Now)
	if err != nil {
		return nil, err
	}
	defer w.transport.CloseIdleConnections()
	done := make(chan struct{})
	sampled := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if vs, err := w.metrics(ctx, soakMetrics...); err == nil {
				r.Samples = append(r.Samples, SoakSample{AtSeconds: time.Since(began).Seconds(),
					RSSBytes: int64(vs["process_resident_memory_bytes"]), Goroutines: int(vs["go_goroutines"]),
					DBOpen: int(vs["twofold_db_open_connections"]), DBInUse: int(vs["twofold_db_in_use_connections"])})
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	run, err := Run(ctx, c)
	close(done)
	<-sampled
	if err != nil {
		return nil, err
	}
	r.Mix = run.Paths[0]
	return r, nil
}

// WriteText prints the samples and the mix's totals.
func (r *SoakReport) WriteText(out io.Writer) {
	fmt.Fprintf(out, "%8s %10s %10s %8s %8s\n", "at s", "RSS MiB", "goroutines", "db open", "db busy")
	for _, s := range r.Samples {
		fmt.Fprintf(out, "%8.0f %10.1f %10d %8d %8d\n", s.AtSeconds, float64(s.RSSBytes)/(1<<20), s.Goroutines, s.DBOpen, s.DBInUse)
	}
	fmt.Fprintf(out, "mix: %d requests, %d errors, %.1f req/s, p99 %.2f ms\n", r.Mix.Requests, r.Mix.Errors, r.Mix.PerSec, r.Mix.P99)
	for _, e := range r.Mix.ErrorSamples {
		fmt.Fprintf(out, "  error: %s\n", e)
	}
}
