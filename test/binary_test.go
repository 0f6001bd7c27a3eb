// Package test holds end-to-end tests: the real binaries, started as
// processes, in front of a real HTTP upstream, with real stores.
package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// testLDFlags stamps the test binaries' version as compose/Dockerfile does.
const testLDFlags = "-X github.com/keyipsentinel/sentinel/cmd/internal/app.version=v9.9.9-test " +
	"-X github.com/keyipsentinel/sentinel/cmd/internal/app.revision=0123abc"

// binDir holds the binaries built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sentinel-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	gobin, err := exec.LookPath("go") // go test puts its own GOROOT/bin first on PATH
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	for _, name := range []string{"sentinel", "sentinel-proxy", "sentinel-admin"} {
		out, err := exec.Command(gobin, "build", "-ldflags", testLDFlags, "-o", filepath.Join(dir, name), "../cmd/"+name).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running Sentinel binary.
type process struct {
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// The kernel may hand a just-closed port out again: never give one
		// port to two listeners of this test binary (APP_PORT and ADMIN_PORT).
		if !portsGiven[port] {
			portsGiven[port] = true
			return port
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// startCmd prepares binary to run in dir with exactly env (plus PATH,
// HOME and a free loopback APP_PORT).
func startCmd(t *testing.T, binary, dir string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, binary), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"APP_HOST=127.0.0.1", fmt.Sprintf("APP_PORT=%d", freePort(t)),
		"ADMIN_HOST=127.0.0.1", fmt.Sprintf("ADMIN_PORT=%d", freePort(t)),
		// A port of freePort's too, not :0: the binary binds its metrics
		// listener first, and the kernel may hand it the APP_PORT that
		// freePort just closed (the proxy then failed to listen: "address
		// already in use", a CI run of TestProxyBinariesRunWithTheirRuntimeSetting).
		// Tests that scrape set their own.
		fmt.Sprintf("SENTINEL_METRICS_ADDR=127.0.0.1:%d", freePort(t))}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// start runs binary (see startCmd) and waits until its /health answers.
func start(t *testing.T, binary, dir string, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := startCmd(t, binary, dir, env, args...)
	var port string
	for _, kv := range cmd.Env {
		if v, ok := strings.CutPrefix(kv, "APP_PORT="); ok {
			port = v
		}
	}
	p := &process{cmd: cmd, URL: "http://127.0.0.1:" + port, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", binary, p.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("%s exited before serving: %v\n%s", binary, err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy:\n%s", binary, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process to exit.
func (p *process) stop() error {
	select {
	case err := <-p.done: // already exited
		p.done <- err
		return err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait()
}

// wait waits for the process to exit (a second SIGTERM would cut its drain short).
func (p *process) wait() error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(40 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("did not stop after SIGTERM")
	}
}

// upstream is the stand-in gateway: it records the client address Sentinel
// reported for every request.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Get("X-Real-IP"))
		u.mu.Unlock()
		if r.URL.Path == "/v1/realtime" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				if c.Write(r.Context(), typ, msg) != nil {
					return
				}
			}
		}
		if r.URL.Path == "/v1/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 5 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				http.NewResponseController(w).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) addresses() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

func send(t testing.TB, ip, url, key string) int {
	t.Helper()
	code, _ := sendBody(t, ip, url, key)
	return code
}

const testKey = "sk-QwErTy0123456789QwErTy0123456789QwErTy01234567"

func TestQuickStartWithNothingConfigured(t *testing.T) {
	dir := t.TempDir()
	p := start(t, "sentinel", dir, nil, "--demo")
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.2", p.URL+"/v1/models", testKey))

	info, err := os.Stat(filepath.Join(dir, "data", "hmac.secret"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	secret, err := os.ReadFile(filepath.Join(dir, "data", "hmac.secret"))
	require.NoError(t, err)
	require.NoError(t, p.stop())
	require.NotContains(t, p.stderr.String(), strings.TrimSpace(string(secret)), "the secret is never logged")
	require.NotContains(t, p.stderr.String(), testKey[3:], "the key is never logged")

	// A restart reuses the secret, so the binding still holds.
	p2 := start(t, "sentinel", dir, nil, "--demo")
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.2", p2.URL+"/v1/models", testKey))
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p2.URL+"/v1/models", testKey))
}

func TestBadConfigurationStopsWithTheVariableNamed(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "sentinel-proxy"))
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"DOWNSTREAM_URL=ftp://gateway", "SENTINEL_HMAC_SECRET=replace-with-a-random-32-byte-secret", "APP_PORT=0"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode())
	for _, want := range []string{"DOWNSTREAM_URL: must be an http:// or https:// URL", "SENTINEL_HMAC_SECRET: is still the example placeholder", "APP_PORT: must be a whole number"} {
		require.Contains(t, string(out), want)
	}
}

// TestTwoProcessesShareOneSQLiteFile: two proxy processes on one data
// directory (they also race to generate the shared secret) and 200 clients
// on 200 addresses using a new key at once, half through each.
func TestTwoProcessesShareOneSQLiteFile(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	env := map[string]string{"DOWNSTREAM_URL": up.URL, "SENTINEL_DATA_DIR": filepath.Join(dir, "data")}
	procs := startProxies(t, 2, func() string { return dir }, env)
	ok := raceFirstUse(t, procs, 200)
	seen := up.addresses()
	require.Equal(t, 1, ok, "exactly one address won")
	require.Len(t, seen, 1)

	// The file agrees: one binding, to the address that got through.
	bindings := countBindings(t, filepath.Join(dir, "data", "sentinel.db"))
	require.Equal(t, []string{seen[0]}, bindings)
}

// The proxying binaries run with the runtime setting that keeps sysmon out
// of deep sleep (cmd/internal/app/runtime_linux.go): they re-execute once
// with it in GODEBUG, keeping their PID and the operator's own GODEBUG
// settings, and leave an operator's schedtrace as it is.
func TestProxyBinariesRunWithTheirRuntimeSetting(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the setting is Linux's")
	}
	godebugOf := func(p *process) string {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
		require.NoError(t, err)
		for _, kv := range strings.Split(string(environ), "\x00") {
			if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
				return v
			}
		}
		return ""
	}
	for _, binary := range []string{"sentinel", "sentinel-proxy"} {
		env := map[string]string{"DOWNSTREAM_URL": newUpstream(t).URL, "GODEBUG": "http2client=0"}
		p := start(t, binary, t.TempDir(), env)
		require.Equal(t, "http2client=0,schedtrace=2147483647", godebugOf(p), binary)
		require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey), binary)
		require.NoError(t, p.stop(), "the re-executed process is the one that stops on SIGTERM")

		env["GODEBUG"] = "schedtrace=0"
		p = start(t, binary, t.TempDir(), env)
		require.Equal(t, "schedtrace=0", godebugOf(p), "%s: the operator's schedtrace wins", binary)
		require.NoError(t, p.stop())
	}
}

func TestSIGTERMFinishesStreamsAndFlushes(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	p := start(t, "sentinel-proxy", dir, map[string]string{"DOWNSTREAM_URL": up.URL, "SENTINEL_LAST_USED_INTERVAL": "1h"})
	require.Equal(t, http.StatusOK, send(t, "127.0.0.1", p.URL+"/v1/models", testKey))
	require.Equal(t, http.StatusForbidden, send(t, "127.0.0.2", p.URL+"/v1/models", testKey))

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.URL+"/v1/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := clientFrom("127.0.0.1").Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 64)
	_, err = resp.Body.Read(buf) // the stream has started
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.URL, "http")+"/v1/realtime",
		&websocket.DialOptions{HTTPClient: clientFrom("127.0.0.1"), HTTPHeader: http.Header{"Authorization": {"Bearer " + testKey}}})
	require.NoError(t, err)
	defer ws.CloseNow()

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the in-flight stream is finished, not cut")
	require.Contains(t, string(rest), "data: 4")

	// The WebSocket session opened before SIGTERM still works during the drain...
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte("still there?")))
	_, msg, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "still there?", string(msg))
	select {
	case <-p.done:
		t.Fatal("the process exited while a WebSocket session was open")
	default:
	}
	// ...and the process exits once it ends.
	ws.Close(websocket.StatusNormalClosure, "")
	require.NoError(t, p.wait())

	db := filepath.Join(dir, "data", "sentinel.db")
	require.Equal(t, 1, countIntercepts(t, db), "the queued intercept was written on the way out")
	require.True(t, lastUsedAfterCreation(t, db), "the queued last use was written on the way out")
}

// startProxies starts n sentinel-proxy processes at once, each in the
// directory dir returns, with env.
func startProxies(t *testing.T, n int, dir func() string, env map[string]string) []*process {
	t.Helper()
	procs := make([]*process, n)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { procs[i] = start(t, "sentinel-proxy", dir(), env) })
	}
	wg.Wait()
	return procs
}

// raceFirstUse has n clients on n loopback addresses use testKey at once,
// spread over procs, and returns how many were let through. Every other
// answer must be a refusal.
func raceFirstUse(t *testing.T, procs []*process, n int) int {
	t.Helper()
	statuses := make([]int, n)
	gun := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		ip := fmt.Sprintf("127.0.%d.%d", 1+i/250, 2+i%250)
		wg.Go(func() {
			<-gun
			statuses[i] = send(t, ip, procs[i%len(procs)].URL+"/v1/models", testKey)
		})
	}
	close(gun)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		require.Contains(t, []int{http.StatusOK, http.StatusForbidden}, s)
		if s == http.StatusOK {
			ok++
		}
	}
	return ok
}
