// Command gen writes the configuration table (config.MarkdownTable) into
// the README between its markers: go generate ./cmd/internal/config.
package main

import (
	"fmt"
	"os"

	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen README.md")
		os.Exit(2)
	}
	path := os.Args[1]
	in, err := os.ReadFile(path)
	if err == nil {
		var out []byte
		if out, err = config.ReplaceTable(in); err == nil {
			err = os.WriteFile(path, out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
