package compose_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// seedVariables are the seed's .env names; an operator's .env keeps them.
var seedVariables = []string{
	"DOWNSTREAM_URL", "REDIS_ADDR", "REDIS_PASSWORD", "PG_DSN", "SENTINEL_HMAC_SECRET",
	"ADMIN_PASSWORD", "ADMIN_JWT_SECRET", "TRUSTED_PROXY_IPS", "SENTINEL_FAILSAFE_MODE",
	"APP_PORT", "ALERT_WEBHOOK_URL", "ALERT_THRESHOLD_COUNT", "ALERT_THRESHOLD_SECONDS", "ARCHIVE_DAYS",
}

// deployDir copies the compose directory into a temporary one the way an
// operator prepares it (cp .env.example .env), with envFile as .env.
func deployDir(t *testing.T, envFile []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), envFile, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, dir string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir),
		cli.WithEnvFiles(filepath.Join(dir, ".env")),
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cli.ProjectFromOptions(context.Background(), opts)
}

func example(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envExample parses .env.example's assignments.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, line := range strings.Split(string(example(t)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example: %q is not NAME=value", line)
		}
		vars[k] = v
	}
	return vars
}

func loadExample(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	p, err := load(t, deployDir(t, example(t)), profiles...)
	if err != nil {
		t.Fatalf("load compose.yaml with .env.example as .env: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

func TestServices(t *testing.T) {
	p := loadExample(t)
	want := []string{"nginx", "sentinel-proxy", "sentinel-admin", "sentinel-archiver", "migrate", "postgres", "valkey"}
	got := p.ServiceNames()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("services by default: %v, want %v", got, want)
	}
	mon := loadExample(t, "monitoring")
	for _, name := range []string{"prometheus", "grafana"} {
		if !slices.Contains(mon.ServiceNames(), name) {
			t.Errorf("profile monitoring lacks %s", name)
		}
	}
}

func TestOnlyNginxIsPublished(t *testing.T) {
	p := loadExample(t)
	for name, s := range p.Services {
		if name == "nginx" {
			if len(s.Ports) != 1 || s.Ports[0].Target != 80 || s.Ports[0].Published != "8016" {
				t.Errorf("nginx ports: %+v, want 8016:80", s.Ports)
			}
			continue
		}
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes %+v; only nginx may", name, s.Ports)
		}
	}
	proxy := service(t, p, "sentinel-proxy")
	if proxy.ContainerName != "" {
		t.Errorf("sentinel-proxy has container_name %q: it could not scale", proxy.ContainerName)
	}
}

func TestNetworks(t *testing.T) {
	p := loadExample(t)
	shared, ok := p.Networks["shared_network"]
	if !ok || !bool(shared.External) {
		t.Fatalf("shared_network: %+v, want an external network", shared)
	}
	if shared.Name != "shared_network" {
		t.Errorf("shared_network is named %q on the host, want shared_network (New API joins it by that name)", shared.Name)
	}
	internal := p.Networks["sentinel"]
	if len(internal.Ipam.Config) != 1 || internal.Ipam.Config[0].Subnet != "172.24.0.0/16" {
		t.Errorf("internal network IPAM: %+v, want the fixed subnet 172.24.0.0/16", internal.Ipam.Config)
	}
	tests := []struct {
		service string
		want    []string
	}{
		{"nginx", []string{"sentinel"}},
		{"sentinel-proxy", []string{"sentinel", "shared_network"}}, // reaches New API
		{"sentinel-admin", []string{"sentinel"}},
		{"sentinel-archiver", []string{"sentinel"}},
		{"migrate", []string{"sentinel"}},
		{"postgres", []string{"sentinel"}},
		{"valkey", []string{"sentinel"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := service(t, p, tt.service)
			got := slices.Sorted(func(yield func(string) bool) {
				for n := range s.Networks {
					if !yield(n) {
						return
					}
				}
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("networks %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTrustedProxyIsNginx: the proxies believe X-Real-IP from nginx's
// address, and from nothing on shared_network.
func TestTrustedProxyIsNginx(t *testing.T) {
	p := loadExample(t)
	nginxAddr := netip.MustParseAddr(service(t, p, "nginx").Networks["sentinel"].Ipv4Address)
	subnet := netip.MustParsePrefix(p.Networks["sentinel"].Ipam.Config[0].Subnet)
	if !subnet.Contains(nginxAddr) {
		t.Fatalf("nginx's address %s is outside the internal subnet %s", nginxAddr, subnet)
	}
	for _, name := range []string{"sentinel-proxy", "sentinel-admin"} {
		t.Run(name, func(t *testing.T) {
			v := service(t, p, name).Environment["TRUSTED_PROXY_IPS"]
			if v == nil {
				t.Fatal("TRUSTED_PROXY_IPS unset")
			}
			trusted := false
			for _, s := range strings.Split(*v, ",") {
				s = strings.TrimSpace(s)
				pfx, err := netip.ParsePrefix(s)
				if err != nil {
					a, aerr := netip.ParseAddr(s)
					if aerr != nil {
						t.Fatalf("TRUSTED_PROXY_IPS entry %q: %v", s, err)
					}
					pfx = netip.PrefixFrom(a, a.BitLen())
				}
				if !subnet.Overlaps(pfx) || pfx.Bits() < subnet.Bits() {
					t.Errorf("TRUSTED_PROXY_IPS entry %s reaches outside the internal subnet %s", pfx, subnet)
				}
				trusted = trusted || pfx.Contains(nginxAddr)
			}
			if !trusted {
				t.Errorf("TRUSTED_PROXY_IPS=%s does not contain nginx's address %s", *v, nginxAddr)
			}
		})
	}
}

func TestHealthChecks(t *testing.T) {
	p := loadExample(t)
	tests := []struct {
		service string
		want    string // a part of the check's command
	}{
		{"sentinel-proxy", "http://127.0.0.1:7000/ready"},
		{"sentinel-admin", "http://127.0.0.1:7001/ready"},
		{"nginx", "/health"},
		{"postgres", "pg_isready"},
		{"valkey", "ping"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			hc := service(t, p, tt.service).HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) < 2 {
				t.Fatalf("no health check: %+v", hc)
			}
			if cmd := strings.Join(hc.Test, " "); !strings.Contains(cmd, tt.want) {
				t.Errorf("health check %q does not call %q", cmd, tt.want)
			}
		})
	}
	for _, name := range []string{"sentinel-proxy", "sentinel-admin"} {
		hc := service(t, p, name).HealthCheck
		// distroless: the binary itself checks, no shell and no curl.
		if hc.Test[0] != "CMD" || hc.Test[2] != "healthcheck" {
			t.Errorf("%s health check %v: want [CMD %s healthcheck URL]", name, hc.Test, name)
		}
	}
}

func TestStartOrder(t *testing.T) {
	p := loadExample(t)
	tests := []struct {
		service, on, condition string
	}{
		{"migrate", "postgres", types.ServiceConditionHealthy},
		{"sentinel-proxy", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"sentinel-proxy", "valkey", types.ServiceConditionHealthy},
		{"sentinel-admin", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"sentinel-archiver", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"nginx", "sentinel-proxy", types.ServiceConditionHealthy},
		{"nginx", "sentinel-admin", types.ServiceConditionHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.service+" on "+tt.on, func(t *testing.T) {
			d, ok := service(t, p, tt.service).DependsOn[tt.on]
			if !ok || d.Condition != tt.condition {
				t.Errorf("depends_on %s: %+v, want condition %s", tt.on, d, tt.condition)
			}
		})
	}
}

func TestCommandsAndStores(t *testing.T) {
	p := loadExample(t)
	tests := []struct {
		service string
		command []string
	}{
		{"sentinel-proxy", []string{"sentinel-proxy"}},
		{"sentinel-admin", []string{"sentinel-admin", "serve"}},
		{"sentinel-archiver", []string{"sentinel-archiver"}},
		{"migrate", []string{"sentinel-admin", "migrate", "up"}},
		{"valkey", []string{"valkey-server", "--save", "", "--appendonly", "no"}}, // no persistence
	}
	image := service(t, p, "migrate").Image
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := service(t, p, tt.service)
			if !slices.Equal(s.Command, tt.command) {
				t.Errorf("command %q, want %q", s.Command, tt.command)
			}
			if strings.HasPrefix(tt.service, "sentinel-") && s.Image != image {
				t.Errorf("image %q, want the one image %q every binary comes from", s.Image, image)
			}
		})
	}
	if b := service(t, p, "migrate").Build; b == nil || b.Dockerfile != "compose/Dockerfile" {
		t.Errorf("migrate builds %+v, want compose/Dockerfile", b)
	}
	if v := service(t, p, "valkey").Volumes; len(v) != 0 {
		t.Errorf("valkey has volumes %+v: the cache must not persist", v)
	}
	pg := service(t, p, "postgres").Volumes
	if len(pg) != 1 || pg[0].Target != "/var/lib/postgresql/data" || pg[0].Type != types.VolumeTypeVolume {
		t.Errorf("postgres volumes %+v, want a named volume on its data directory", pg)
	}
}

// TestEnvFileResolves: .env reaches every Sentinel container, with the
// references inside it resolved.
func TestEnvFileResolves(t *testing.T) {
	p := loadExample(t)
	vars := envExample(t)
	for _, name := range []string{"sentinel-proxy", "sentinel-admin", "sentinel-archiver", "migrate"} {
		t.Run(name, func(t *testing.T) {
			env := service(t, p, name).Environment
			for _, k := range seedVariables {
				if env[k] == nil {
					t.Errorf("%s not set", k)
				}
			}
			for k, v := range env {
				if v != nil && strings.Contains(*v, "${") {
					t.Errorf("%s=%s left unresolved", k, *v)
				}
			}
			want := "postgres://sentinel:" + vars["POSTGRES_PASSWORD"] + "@postgres:5432/sentinel?sslmode=disable"
			if got := env["PG_DSN"]; got == nil || *got != want {
				t.Errorf("PG_DSN = %v, want %s (the postgres service's password)", got, want)
			}
		})
	}
	if got := service(t, p, "postgres").Environment["POSTGRES_PASSWORD"]; got == nil || *got != vars["POSTGRES_PASSWORD"] {
		t.Errorf("postgres POSTGRES_PASSWORD = %v, want .env's", got)
	}
}

func TestEnvExampleNamesTheSeedsVariables(t *testing.T) {
	vars := envExample(t)
	for _, k := range seedVariables {
		if _, ok := vars[k]; !ok {
			t.Errorf(".env.example lacks the seed's %s", k)
		}
	}
	for _, k := range []string{"SENTINEL_HMAC_SECRET", "ADMIN_PASSWORD", "ADMIN_JWT_SECRET", "POSTGRES_PASSWORD"} {
		if !strings.HasPrefix(vars[k], "replace-with-") {
			t.Errorf("%s=%q: a secret in the example must be a replace-with-… placeholder (Sentinel refuses those)", k, vars[k])
		}
	}
}

func TestMissingDatabasePasswordIsRefused(t *testing.T) {
	var kept []string
	for _, line := range strings.Split(string(example(t)), "\n") {
		if !strings.HasPrefix(line, "POSTGRES_PASSWORD=") {
			kept = append(kept, line)
		}
	}
	_, err := load(t, deployDir(t, []byte(strings.Join(kept, "\n"))))
	if err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Fatalf("load without POSTGRES_PASSWORD: %v, want an error naming it", err)
	}
}
