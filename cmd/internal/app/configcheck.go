package app

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// runConfigCheck is `<binary> config check [flags]`: load the
// configuration from every source as the binary would, and print each
// setting's effective value and its source, secrets masked. It writes
// nothing (no secret is generated) and exits 2 when a value is bad.
func runConfigCheck(b Binary, name string, args []string, env Env) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintf(env.Stderr, "usage: %s config check [flags]   validate the configuration and print it, secrets masked\n", name)
		return exitUsage
	}
	fs, loader := newFlags(name, b, "config check", env)
	fs.Bool("demo", false, "accepted for symmetry with serve; ignored")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	cfg, err := loader.Load()
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	for _, e := range loader.Effective() {
		v := e.Value
		if v == "" {
			v = "(unset)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, v, e.Source)
	}
	tw.Flush()
	for _, w := range cfg.Warnings {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	fmt.Fprintln(env.Stdout, "configuration OK")
	return exitOK
}
