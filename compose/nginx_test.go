package compose_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nginxBinary finds nginx, skipping when it is missing, except under CI
// where a missing nginx is a failure.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx not found (Debian package nginx); CI needs it")
	}
	t.Skip("nginx not found; apt-get install -y nginx")
	return ""
}

// nginxTest runs `nginx -T` on a copy of compose/nginx with the compose
// service names mapped to loopback (nginx resolves upstream names when it
// loads its configuration), wrapped in a main configuration like the nginx
// image's. It returns the dumped configuration.
func nginxTest(t *testing.T, mutate func(conf, locations string) (string, string)) (string, error) {
	t.Helper()
	nginx := nginxBinary(t)
	dir := t.TempDir()
	conf, err := os.ReadFile("nginx/conf.d/sentinel.conf")
	if err != nil {
		t.Fatal(err)
	}
	locations, err := os.ReadFile("nginx/sentinel-locations.inc")
	if err != nil {
		t.Fatal(err)
	}
	c, l := string(conf), string(locations)
	for _, svc := range []string{"sentinel-proxy", "sentinel-admin"} {
		if !strings.Contains(c, "server "+svc+":") {
			t.Fatalf("sentinel.conf has no upstream server line for %s", svc)
		}
		c = strings.ReplaceAll(c, "server "+svc+":", "server 127.0.0.1:")
	}
	locPath := filepath.Join(dir, "sentinel-locations.inc")
	if !strings.Contains(c, "include /etc/nginx/sentinel-locations.inc;") {
		t.Fatal("sentinel.conf does not include /etc/nginx/sentinel-locations.inc (where compose.yaml mounts it)")
	}
	c = strings.ReplaceAll(c, "/etc/nginx/sentinel-locations.inc", locPath)
	// An unprivileged port, in case the test does not run as root.
	c = strings.ReplaceAll(c, "listen 80;", "listen 127.0.0.1:18080;")
	l = strings.ReplaceAll(l, "/var/log/nginx/access.log", filepath.Join(dir, "access.log"))
	if mutate != nil {
		c, l = mutate(c, l)
	}
	main := `
worker_processes 1;
pid ` + filepath.Join(dir, "nginx.pid") + `;
error_log ` + filepath.Join(dir, "error.log") + `;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path ` + filepath.Join(dir, "body") + `;
    proxy_temp_path ` + filepath.Join(dir, "proxy") + `;
    include ` + filepath.Join(dir, "sentinel.conf") + `;
}
`
	for name, text := range map[string]string{"nginx.conf": main, "sentinel.conf": c, "sentinel-locations.inc": l} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(nginx, "-T", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput()
	return string(out), err
}

func TestNginxConfigPasses(t *testing.T) {
	out, err := nginxTest(t, nil)
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	// What makes the front streaming-safe and hands the client address on.
	for _, want := range []string{
		"proxy_buffering off;",
		"proxy_request_buffering off;",
		"proxy_read_timeout 3600s;",
		"proxy_http_version 1.1;",
		"keepalive 64;",
		"map $http_upgrade $connection_upgrade",
		"proxy_set_header Upgrade           $http_upgrade;",
		"proxy_set_header Connection        $connection_upgrade;",
		"proxy_set_header X-Real-IP         $remote_addr;",
		"location /admin/ {\n    proxy_pass http://sentinel_admin;",
		"location / {\n    proxy_pass http://sentinel_proxy;",
		"/access.log sentinel;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the configuration lacks %q", want)
		}
	}
}

// TestNginxAccessLogHasNoQuery: a key sent as ?key= must not reach the
// access log.
func TestNginxAccessLogHasNoQuery(t *testing.T) {
	out, err := nginxTest(t, nil)
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	start := strings.Index(out, "log_format sentinel")
	if start < 0 {
		t.Fatal("no log_format sentinel")
	}
	format := out[start : start+strings.Index(out[start:], ";")]
	for _, leak := range []string{"$request ", "$request\"", "$request_uri", "$args", "$query_string", "$http_authorization"} {
		if strings.Contains(format, leak) {
			t.Errorf("the access log format logs %s, which can hold a key", leak)
		}
	}
}

// TestNginxTestCanFail shows the check is real: a broken directive fails it.
func TestNginxTestCanFail(t *testing.T) {
	out, err := nginxTest(t, func(c, l string) (string, string) {
		return c, strings.Replace(l, "proxy_buffering off;", "proxy_buffering sometimes;", 1)
	})
	if err == nil {
		t.Fatalf("nginx -t accepted proxy_buffering sometimes:\n%s", out)
	}
}

// TestNginxRealIPExampleIsValid: the commented CDN / load balancer lines
// are valid once uncommented, when nginx has the realip module.
func TestNginxRealIPExampleIsValid(t *testing.T) {
	out, err := nginxTest(t, func(c, l string) (string, string) {
		for _, d := range []string{"set_real_ip_from 173.245.48.0/20;", "set_real_ip_from 2400:cb00::/32;", "real_ip_header CF-Connecting-IP;", "real_ip_recursive on;"} {
			if !strings.Contains(c, "#   "+d) {
				t.Fatalf("sentinel.conf lacks the commented example %q", d)
			}
			c = strings.Replace(c, "#   "+d, d, 1)
		}
		return c, l
	})
	if err != nil {
		if strings.Contains(out, `unknown directive "set_real_ip_from"`) {
			t.Skip("this nginx has no realip module")
		}
		t.Fatalf("nginx -t with the real_ip example: %v\n%s", err, out)
	}
}
