package app

import "runtime/debug"

// version and revision are set at build time:
//
//	go build -ldflags "-X github.com/keyipsentinel/sentinel/cmd/internal/app.version=v1.2.3 \
//	  -X github.com/keyipsentinel/sentinel/cmd/internal/app.revision=$(git rev-parse HEAD)" ./cmd/...
//
// (compose/Dockerfile does). Unset, the module's build information says.
var version, revision string

// Version returns the version the binary was built as: the -ldflags one,
// else the module version (go install …@v1.2.3), else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Revision returns the source revision the binary was built from: the
// -ldflags one, else the VCS revision go build stamped, else "".
func Revision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// versionLine is what `version` prints: the version and, when known, the
// revision.
func versionLine(name string) string {
	if r := Revision(); r != "" {
		return name + " " + Version() + " (" + r + ")"
	}
	return name + " " + Version()
}
