package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// healthcheckTimeout bounds the whole probe: Docker's own timeout should be
// longer, so the probe reports its failure itself.
const healthcheckTimeout = 3 * time.Second

// runHealthcheck is `<binary> healthcheck URL`, for images without curl
// (distroless): GET URL, print the status, exit 0 on 2xx and 1 otherwise
// (2 for bad usage). It reads no configuration.
func runHealthcheck(ctx context.Context, name string, args []string, env Env) int {
	if len(args) != 1 {
		fmt.Fprintf(env.Stderr, "usage: %s healthcheck URL   (e.g. http://127.0.0.1:7000/ready)\n", name)
		return exitUsage
	}
	u, err := url.Parse(args[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(env.Stderr, "%s healthcheck: %q is not an http:// or https:// URL\n", name, args[0])
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s healthcheck: %v\n", name, err)
		return exitUsage
	}
	// No environment proxy: the probe is for this container's own port.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: healthcheckTimeout}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(env.Stdout, "%s: unreachable: %v\n", u.Redacted(), err)
		return exitFailed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	fmt.Fprintf(env.Stdout, "%s: %s %s\n", u.Redacted(), resp.Status, trimBody(body))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return exitFailed
	}
	return exitOK
}

func trimBody(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
