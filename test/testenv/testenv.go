// Package testenv gives integration tests the real services they need.
//
// PostgreSQL comes from SENTINEL_TEST_PG_DSN and Valkey/Redis from
// SENTINEL_TEST_REDIS_ADDR; when a variable is unset, a container is
// started with testcontainers-go (once per test binary). A Valkey/Redis
// Cluster comes from SENTINEL_TEST_REDIS_CLUSTER (comma-separated nodes),
// or is started from the redis-server (or valkey-server) binary on the
// PATH. When none of that works the test is skipped, except under CI=true,
// where a missing service fails the test: CI must never pass by skipping.
//
// Every test gets its own PostgreSQL schema and its own key prefix, so
// tests and parallel runs never see each other's data.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/valkey-io/valkey-go"
)

// Environment variables naming the services.
const (
	EnvPostgres     = "SENTINEL_TEST_PG_DSN"
	EnvRedis        = "SENTINEL_TEST_REDIS_ADDR"
	EnvRedisCluster = "SENTINEL_TEST_REDIS_CLUSTER"
)

// unavailable skips the test, or fails it under CI.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and a required service is missing: %s", msg)
	}
	t.Skip(msg)
}

// Unique returns a short random name, for schemas and key prefixes.
func Unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

var (
	pgOnce sync.Once
	pgBase string
	pgErr  error
)

func postgresBase(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(EnvPostgres); dsn != "" {
		return dsn
	}
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := tcpostgres.Run(ctx, "postgres:16-alpine",
			tcpostgres.WithDatabase("test"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
			tcpostgres.BasicWaitStrategies())
		if err != nil {
			pgErr = err
			return
		}
		pgBase, pgErr = c.ConnectionString(ctx, "sslmode=disable")
	})
	if pgErr != nil {
		unavailable(t, "%s is unset and no PostgreSQL container could be started: %v", EnvPostgres, pgErr)
	}
	return pgBase
}

// Postgres returns a DSN whose search_path is a new, empty schema that is
// dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := postgresBase(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		unavailable(t, "PostgreSQL at %s does not answer: %v", redact(base), err)
	}
	schema := Unique("t_")
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	return withSearchPath(t, base, schema)
}

func withSearchPath(t testing.TB, dsn, schema string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return "(dsn)"
}

var (
	redisOnce sync.Once
	redisAddr string
	redisErr  error
)

// Redis returns the address of a Valkey/Redis server and a key prefix of
// the test's own.
func Redis(t testing.TB) (addr, prefix string) {
	t.Helper()
	addr = os.Getenv(EnvRedis)
	if addr == "" {
		redisOnce.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c, err := tcredis.Run(ctx, "valkey/valkey:8-alpine")
			if err != nil {
				redisErr = err
				return
			}
			var s string
			s, redisErr = c.ConnectionString(ctx)
			redisAddr = strings.TrimPrefix(s, "redis://")
		})
		if redisErr != nil {
			unavailable(t, "%s is unset and no Valkey container could be started: %v", EnvRedis, redisErr)
		}
		addr = redisAddr
	}
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		unavailable(t, "Valkey/Redis at %s does not answer: %v", addr, err)
	}
	conn.Close()
	return addr, Unique("t") + ":"
}

// PrivateRedis starts a standalone Valkey/Redis server of the test's own
// from the binary on the PATH, for measurements that must not see other
// tests' traffic (INFO commandstats). It is stopped when the test ends.
func PrivateRedis(t testing.TB) string {
	t.Helper()
	server, cli := serverBinaries(t)
	port := freeClusterPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(server, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", server, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitPing(t, cli, addr)
	return addr
}

func serverBinaries(t testing.TB) (server, cli string) {
	t.Helper()
	for _, pair := range [][2]string{{"valkey-server", "valkey-cli"}, {"redis-server", "redis-cli"}} {
		s, serr := exec.LookPath(pair[0])
		c, cerr := exec.LookPath(pair[1])
		if serr == nil && cerr == nil {
			return s, c
		}
	}
	unavailable(t, "neither valkey-server nor redis-server is on the PATH")
	return "", ""
}

// RedisCluster returns the nodes of a 3-master Valkey/Redis Cluster and a
// key prefix of the test's own. Without SENTINEL_TEST_REDIS_CLUSTER it
// starts one on loopback from the server binary on the PATH, stopped when
// the test ends.
func RedisCluster(t testing.TB) (addrs []string, prefix string) {
	t.Helper()
	prefix = Unique("t") + ":"
	if env := os.Getenv(EnvRedisCluster); env != "" {
		return strings.Split(env, ","), prefix
	}
	server, cli := serverBinaries(t)
	dir := t.TempDir()
	for range 3 {
		port := freeClusterPort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(server, "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
			"--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", server, err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		waitPing(t, cli, a)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("create cluster: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range addrs {
		for {
			host, port, _ := net.SplitHostPort(a)
			out, _ := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster at %s did not become ready: %s", a, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs, prefix
}

func waitPing(t testing.TB, cli, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command(cli, "-h", host, "-p", port, "ping").Output()
		if strings.TrimSpace(string(out)) == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeClusterPort finds a port that is free together with its cluster bus
// port (port+10000), below the kernel's ephemeral range.
func freeClusterPort(t testing.TB) int {
	t.Helper()
	for range 200 {
		var b [2]byte
		rand.Read(b[:])
		port := 20000 + (int(b[0])<<8|int(b[1]))%10000
		a, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000))
		a.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

// CommandCalls reads a Valkey/Redis server's INFO commandstats: how many
// times each command was called.
func CommandCalls(t testing.TB, addr string) map[string]int64 {
	t.Helper()
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer c.Close()
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			t.Fatalf("INFO commandstats line %q: %v", line, err)
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}
