// Package app is what Sentinel's binaries share: command-line handling,
// wiring the configured stores to the domain and the proxy, and an orderly
// start and stop. The binaries' main functions only call Main.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// Binary says which of Sentinel's programs is running.
type Binary int

// The binaries.
const (
	AllInOne  Binary = iota // sentinel: proxy (and, later, admin API and archiver) in one process
	ProxyOnly               // sentinel-proxy
	AdminOnly               // sentinel-admin
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// Main runs the binary with its arguments (without the program name) and
// returns the process exit code.
func Main(b Binary, name string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal during the drain then ends the process at once
	}()

	cmd := "serve"
	if b == ArchiverOnly {
		cmd = "run"
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Println(name, Version())
		return exitOK
	case "help":
		usage(os.Stdout, b, name, newFlags(name, b, cmd))
		return exitOK
	}
	if !allowed(b, cmd) {
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n", name, cmd)
		usage(os.Stderr, b, name, newFlags(name, b, "serve"))
		return exitUsage
	}

	fs := newFlags(name, b, cmd)
	loader := config.NewLoader(fs)
	demo := fs.Bool("demo", false, "serve a bundled demo upstream and forward to it (tries Sentinel without a gateway)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	cfg, err := loader.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	log := newLogger(os.Stderr, cfg)

	switch cmd {
	case "migrate":
		err = runMigrate(ctx, cfg, log, fs.Args())
	case "once", "run":
		err = runArchiver(ctx, cfg, log, cmd == "once")
	default:
		err = runServe(ctx, b, cfg, log, *demo)
	}
	if err != nil {
		log.Error(name+" stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

func allowed(b Binary, cmd string) bool {
	switch b {
	case AllInOne:
		return cmd == "serve" || cmd == "migrate"
	case ProxyOnly:
		return cmd == "serve"
	case AdminOnly:
		return cmd == "migrate"
	case ArchiverOnly:
		return cmd == "once" || cmd == "run"
	}
	return false
}

func newFlags(name string, b Binary, cmd string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name+" "+cmd, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() { usage(os.Stderr, b, name, fs) }
	return fs
}

func usage(w io.Writer, b Binary, name string, fs *pflag.FlagSet) {
	switch b {
	case AllInOne:
		fmt.Fprintf(w, "Usage:\n  %s [serve] [flags]             run the proxy\n  %s migrate up|down|status [flags]  manage the PostgreSQL schema\n  %s version\n", name, name, name)
	case ProxyOnly:
		fmt.Fprintf(w, "Usage:\n  %s [flags]   run the proxy\n  %s version\n", name, name)
	case AdminOnly:
		fmt.Fprintf(w, "Usage:\n  %s migrate up|down|status [flags]   manage the PostgreSQL schema\n  %s version\n", name, name)
	case ArchiverOnly:
		fmt.Fprintf(w, "Usage:\n  %s [run] [flags]   archive idle bindings and old intercepts every interval\n  %s once [flags]    do it once (for cron)\n  %s version\n", name, name, name)
	}
	fmt.Fprintf(w, "\nEvery flag can also be set by the environment variable in brackets, a .env file or --config.\n\nFlags:\n")
	if fs.Lookup("downstream-url") == nil {
		config.NewLoader(fs)
	}
	fmt.Fprint(w, fs.FlagUsages())
}

// Version returns the module version the binary was built from.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
