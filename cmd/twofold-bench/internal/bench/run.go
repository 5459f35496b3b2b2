package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to run.
type Config struct {
	Issuer  string
	Workers int
	// Duration of each path, or Count requests per path when Count > 0.
	Duration time.Duration
	Count    int
	Paths    []string // nil: all
	Setup    *Setup   // nil: only paths that need no account can run
	// Now is the clock TOTP codes are computed with; nil: time.Now. A test
	// server with a fixed clock passes its own.
	Now         func() time.Time
	HTTPTimeout time.Duration // per request; 0: 30 s
	// Progress receives a live progress line per path (nil: none).
	Progress io.Writer
	// CodeStock is how many codes each worker of the code path gets first
	// (0: Count/Workers with a count, else 250).
	CodeStock int
}

// Run measures each path in turn, each with its own fresh worker state,
// and returns the results. It stops by itself: after Duration or Count per
// path. The setup's TOTP steps are updated (Setup.Users) for a later run.
func Run(ctx context.Context, c Config) (*Report, error) {
	if c.Workers < 1 {
		return nil, errors.New("workers must be at least 1")
	}
	if c.Count <= 0 && c.Duration <= 0 {
		return nil, errors.New("give a duration or a count")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 30 * time.Second
	}
	names := c.Paths
	if len(names) == 0 {
		names = Paths()
	}
	var todo []path
	for _, n := range names {
		p, ok := findPath(n)
		if !ok {
			return nil, fmt.Errorf("unknown path %q (one of: %s)", n, strings.Join(Paths(), ", "))
		}
		if c.Setup == nil && !p.anonymous() {
			return nil, fmt.Errorf("%s: %w", n, errNoSetup)
		}
		todo = append(todo, p)
	}
	w, err := newWorld(ctx, c.Issuer, c.Workers, c.HTTPTimeout, c.Setup, c.Now)
	if err != nil {
		return nil, err
	}
	defer w.transport.CloseIdleConnections()
	w.codeStock = c.CodeStock
	if w.codeStock <= 0 {
		w.codeStock = 250
		if c.Count > 0 {
			w.codeStock = (c.Count + c.Workers - 1) / c.Workers
		}
	}
	w.codePool = make(chan stockedCode, w.codeStock*c.Workers)
	r := &Report{Issuer: c.Issuer, Workers: c.Workers, Count: c.Count, Started: time.Now().UTC(),
		Machine: Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}}
	if c.Count <= 0 {
		r.DurationSeconds = c.Duration.Seconds()
	}
	if w.users != nil {
		r.Users = len(w.users.list)
		defer func() { c.Setup.Users = w.users.snapshot() }()
	}
	for _, p := range todo {
		res, err := runPath(ctx, c, w, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		r.Paths = append(r.Paths, res)
	}
	return r, nil
}

// tally is one worker's (or a whole path's) record.
type tally struct {
	latencies []time.Duration // of successful requests
	errors    int
	errSeen   map[string]int
	amr       []string
	subs      map[string]*tally // a mix's draws
}

func (t *tally) add(o outcome) {
	if o.err != nil {
		t.errors++
		if t.errSeen == nil {
			t.errSeen = map[string]int{}
		}
		t.errSeen[o.err.Error()]++
	} else {
		t.latencies = append(t.latencies, o.d)
	}
	if o.amr != nil && t.amr == nil {
		t.amr = o.amr
	}
}

func (t *tally) merge(o *tally) {
	t.latencies = append(t.latencies, o.latencies...)
	t.errors += o.errors
	for k, v := range o.errSeen {
		if t.errSeen == nil {
			t.errSeen = map[string]int{}
		}
		t.errSeen[k] += v
	}
	if t.amr == nil {
		t.amr = o.amr
	}
	for k, s := range o.subs {
		if t.subs == nil {
			t.subs = map[string]*tally{}
		}
		if t.subs[k] == nil {
			t.subs[k] = &tally{}
		}
		t.subs[k].merge(s)
	}
}

func runPath(ctx context.Context, c Config, w *world, p path) (Result, error) {
	for len(w.codePool) > 0 { // an earlier path's codes may have expired
		<-w.codePool
	}
	// Every worker's state first, untimed and in parallel.
	ops := make([]op, c.Workers)
	errs := make([]error, c.Workers)
	var wg sync.WaitGroup
	for i := range ops {
		wg.Go(func() { ops[i], errs[i] = p.prepare(ctx, w, i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, fmt.Errorf("prepare: %w", err)
	}
	var waitedBefore time.Duration
	if w.users != nil {
		waitedBefore = w.users.waitedFor()
	}

	start := time.Now()
	stop := ctx
	var cancel context.CancelFunc = func() {}
	if c.Count <= 0 {
		stop, cancel = context.WithDeadline(ctx, start.Add(c.Duration))
	}
	defer cancel()
	var claimed, done, failed atomic.Int64
	tallies := make([]tally, c.Workers)
	for i := range ops {
		wg.Go(func() {
			t := &tallies[i]
			for stop.Err() == nil {
				if c.Count > 0 && claimed.Add(1) > int64(c.Count) {
					return
				}
				o := ops[i](ctx, stop)
				if o.done {
					return
				}
				if o.skip {
					continue
				}
				t.add(o)
				if o.sub != "" {
					if t.subs == nil {
						t.subs = map[string]*tally{}
					}
					if t.subs[o.sub] == nil {
						t.subs[o.sub] = &tally{}
					}
					t.subs[o.sub].add(o)
				}
				done.Add(1)
				if o.err != nil {
					failed.Add(1)
				}
			}
		})
	}
	finished := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		progress(c, p.name, start, &done, &failed, finished)
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(finished)
	<-progressDone

	var all tally
	for i := range tallies {
		all.merge(&tallies[i])
	}
	res := all.result(p.name, elapsed)
	if w.users != nil {
		res.TOTPWaitSeconds = (w.users.waitedFor() - waitedBefore).Seconds()
	}
	subs := make([]string, 0, len(all.subs))
	for k := range all.subs {
		subs = append(subs, k)
	}
	order := Paths()
	slices.SortFunc(subs, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	for _, k := range subs {
		res.Ops = append(res.Ops, all.subs[k].result(k, elapsed))
	}
	return res, nil
}

// progress redraws one line on c.Progress until finished.
func progress(c Config, name string, start time.Time, done, failed *atomic.Int64, finished <-chan struct{}) {
	if c.Progress == nil {
		return
	}
	const width = 30
	draw := func(final bool) {
		elapsed := time.Since(start)
		frac := elapsed.Seconds() / c.Duration.Seconds()
		if c.Count > 0 {
			frac = float64(done.Load()) / float64(c.Count)
		}
		if final {
			frac = 1
		}
		frac = min(max(frac, 0), 1)
		bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
		fmt.Fprintf(c.Progress, "\r%-18s [%s] %3.0f%% %8d req %6d err %9.1f req/s", name, bar, frac*100,
			done.Load(), failed.Load(), float64(done.Load())/max(elapsed.Seconds(), 1e-9))
		if final {
			fmt.Fprintln(c.Progress)
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			draw(true)
			return
		case <-tick.C:
			draw(false)
		}
	}
}
