package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real twofold executable once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "twofold-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "twofold")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is a running twofold serve.
type process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan error
}

// startProcess runs "twofold serve" in dir and waits (up to 20 s) until it
// logs the address it listens on.
func startProcess(t *testing.T, dir string, environ ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TWOFOLD_LISTEN=127.0.0.1:0"}, environ...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		t.Fatalf("twofold serve exited before listening: %v\n%s", err, p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("twofold serve did not listen within 20 s\n%s", p.stderr)
	}
	return p
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("twofold serve exited with %v after SIGTERM\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("twofold serve did not stop within 20 s of SIGTERM")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) WriteString(s string) { l.Write([]byte(s)) }
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeRunsOnSQLiteWithNoConfiguration(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := get(t, "http://"+p.addr+path); code != 200 {
			t.Fatalf("%s = %d", path, code)
		}
	}
	if !strings.Contains(p.stderr.String(), "/setup?token=") {
		t.Fatalf("no setup link printed:\n%s", p.stderr)
	}
	for name, wantMode := range map[string]os.FileMode{"twofold.db": 0o600, "twofold.db.key": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != wantMode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), wantMode)
		}
	}
	p.stop(t)
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no graceful stop logged:\n%s", p.stderr)
	}
}

func TestTwoReplicasStartTogetherOnPostgresAndMigrateOnce(t *testing.T) {
	dbURL := storagetest.PostgresSchemaURL(t)
	key, _ := secrets.GenerateKey()
	env := []string{"TWOFOLD_DATABASE_URL=" + dbURL, "TWOFOLD_SECRET_KEY=" + secrets.EncodeKey(key)}
	var (
		wg    sync.WaitGroup
		procs [2]*process
	)
	for i := range procs {
		wg.Go(func() { procs[i] = startProcess(t, t.TempDir(), env...) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, p := range procs {
		if code := get(t, "http://"+p.addr+"/readyz"); code != 200 {
			t.Fatalf("replica %s /readyz = %d", p.addr, code)
		}
	}
	migrated := 0
	for _, p := range procs {
		if strings.Contains(p.stderr.String(), `"msg":"database migrated"`) {
			migrated++
		}
	}
	if migrated != 1 {
		t.Fatalf("%d replicas report migrating, want exactly 1", migrated)
	}
	s, err := storage.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := s.SQL().QueryRowContext(t.Context(), "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(st) {
		t.Fatalf("%d migration rows for %d migrations", rows, len(st))
	}
	for _, p := range procs {
		p.stop(t)
	}
}

// serveInProcess runs "twofold serve" inside the test and returns its base URL.
func serveInProcess(t *testing.T, stderr io.Writer, environ ...string) string {
	t.Helper()
	return serveInProcessArgs(t, stderr, []string{"serve"}, environ...)
}

// serveInProcessArgs runs "twofold <args>" inside the test.
func serveInProcessArgs(t *testing.T, stderr io.Writer, args []string, environ ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	e := env{
		stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr,
		environ: append([]string{"TWOFOLD_LISTEN=127.0.0.1:0"}, environ...),
		ready:   func(addr string) { addrc <- addr },
	}
	go func() { done <- run(ctx, e, args) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	select {
	case addr := <-addrc:
		return "http://" + addr
	case code := <-done:
		done <- code
		t.Fatalf("serve exited %d before listening: %s", code, stderr)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20 s")
	}
	return ""
}

// tcpProxy forwards loopback connections to target and can be switched off
// (listener closed, live connections cut) and on again, like a database
// going away and coming back.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	dbURL := storagetest.PostgresSchemaURL(t)
	u, _ := url.Parse(dbURL)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	key, _ := secrets.GenerateKey()
	base := serveInProcess(t, io.Discard, "TWOFOLD_DATABASE_URL="+u.String(), "TWOFOLD_SECRET_KEY="+secrets.EncodeKey(key), "TWOFOLD_LOG_LEVEL=error")
	if code := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d with the database up", code)
	}
	proxy.stop()
	stopped := time.Now()
	waitStatus(t, base+"/readyz", 503, 2*time.Second)
	t.Logf("/readyz answered 503 %v after the database went away", time.Since(stopped).Round(time.Millisecond))
	if code := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d while the database is down; the process is up", code)
	}
	proxy.start(proxy.addr)
	waitStatus(t, base+"/readyz", 200, 5*time.Second)
}

// waitStatus polls u until it answers want, failing after within. Polling
// is the behaviour under test here (a probe polls), not synchronisation.
func waitStatus(t *testing.T, u string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := 0
	for time.Now().Before(deadline) {
		if last = get(t, u); last == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s still answers %d after %v, want %d", u, last, within, want)
}

var hiddenInput = regexp.MustCompile(`name="(csrf_token|token)" value="([^"]*)"`)

func TestFirstRunSetupLinkCreatesTheAdministrator(t *testing.T) {
	dir := t.TempDir()
	dbEnv := "TWOFOLD_DATABASE_URL=sqlite:" + filepath.Join(dir, "twofold.db")
	var stderr lockedBuffer
	base := serveInProcess(t, &stderr, dbEnv)
	m := regexp.MustCompile(`/setup\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no setup link in:\n%s", stderr.String())
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(base + "/setup?token=" + m[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="setup"`) {
		t.Fatalf("setup page: %d\n%s", resp.StatusCode, page)
	}
	form := url.Values{"username": {"root"}, "email": {"root@example.com"}, "password": {"correct horse battery"}, "password_confirm": {"correct horse battery"}}
	for _, h := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(h[1], h[2])
	}
	resp, err = client.PostForm(base+"/setup", form)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/setup/done" {
		t.Fatalf("after setup: %d at %s\n%s", resp.StatusCode, resp.Request.URL.Path, done)
	}
	// The link is spent.
	if code := get(t, base+"/setup?token="+m[1]); code != 404 {
		t.Fatalf("reused setup link = %d, want 404", code)
	}
	c := &cli{t: t, environ: []string{dbEnv, "TWOFOLD_LOG_LEVEL=error"}}
	if out := c.mustRun("", "user", "list"); !strings.Contains(out, "root") || !strings.Contains(out, "yes") {
		t.Fatalf("user list after setup:\n%s", out)
	}
}

func TestServeWithTheDemo(t *testing.T) {
	dir := t.TempDir()
	var stderr lockedBuffer
	// The issuer must be the address the test reaches: localhost on the port chosen below.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	base := serveInProcessArgs(t, &stderr, []string{"serve", "--demo"},
		"TWOFOLD_DATABASE_URL=sqlite:"+filepath.Join(dir, "twofold.db"), "TWOFOLD_LISTEN="+addr,
		"TWOFOLD_ISSUER=http://localhost:"+port, "TWOFOLD_LOG_LEVEL=error")
	if !regexp.MustCompile(`sign in as "demo" with the password "demo [A-Za-z0-9_-]{9}"`).MatchString(stderr.String()) {
		t.Fatalf("no demo password printed:\n%s", stderr.String())
	}
	if code := get(t, base+"/demo/"); code != 200 {
		t.Fatalf("/demo/ = %d", code)
	}
}

func TestTheProfilerIsServedOnlyOnTheDebugListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := ln.Addr().String()
	ln.Close()
	key, _ := secrets.GenerateKey()
	base := serveInProcess(t, io.Discard, "TWOFOLD_DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "t.db"),
		"TWOFOLD_SECRET_KEY="+secrets.EncodeKey(key), "TWOFOLD_LOG_LEVEL=error", "TWOFOLD_DEBUG_LISTEN="+debugAddr)
	if code := get(t, "http://"+debugAddr+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Fatalf("profiler on debug_listen = %d, want 200", code)
	}
	if code := get(t, base+"/debug/pprof/goroutine?debug=1"); code != 404 {
		t.Fatalf("profiler on the public listener = %d, want 404", code)
	}
}
