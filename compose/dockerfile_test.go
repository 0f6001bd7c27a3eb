package compose_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what the image promises without a Docker engine:
// a static build with version information, every binary in a distroless
// nonroot image, the binary chosen by command.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var froms, instructions []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(line, " ") {
			continue
		}
		instructions = append(instructions, strings.ToUpper(f[0]))
		if strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
	}
	if len(froms) != 3 {
		t.Fatalf("stages %v, want console, build, final", froms)
	}
	if !strings.HasPrefix(froms[0], "node:") || !strings.HasPrefix(froms[1], "golang:") {
		t.Errorf("build stages %v, want node then golang", froms[:2])
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static-debian\d+:nonroot$`).MatchString(froms[2]) {
		t.Errorf("final image %s, want distroless/static nonroot", froms[2])
	}
	for _, want := range []string{
		"CGO_ENABLED=0 go build",
		"-X github.com/keyipsentinel/sentinel/cmd/internal/app.version=${VERSION}",
		"./cmd/...",
		"if [ -f /src/admin-ui/package.json ]",
		"npm ci",
		"npm run build",
		"COPY --from=build /out/bin/ /usr/local/bin/",
		"USER nonroot:nonroot",
		`CMD ["sentinel-proxy"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, in := range instructions {
		if in == "ENTRYPOINT" {
			t.Error("Dockerfile sets an ENTRYPOINT: the command must name the binary (compose runs sentinel-admin migrate up from the same image)")
		}
	}
	if _, err := os.Stat("../cmd/internal/app"); err != nil {
		t.Errorf("the -X target package is gone: %v", err)
	}
}
