// Package app is what Sentinel's binaries share: command-line handling,
// wiring the configured stores to the domain and the proxy, and an orderly
// start and stop. The binaries' main functions only call Main, with the
// process's environment, output and a signal-bound context; tests call it
// in process with their own.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// Binary says which of Sentinel's programs is running.
type Binary int

// The binaries.
const (
	AllInOne  Binary = iota // sentinel: proxy, admin API and archiver in one process
	ProxyOnly               // sentinel-proxy
	AdminOnly               // sentinel-admin
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// Env is what Main reads and writes of its surroundings.
type Env struct {
	// LookupEnv reads an environment variable; nil is an empty environment.
	LookupEnv func(name string) (string, bool)
	// Environ lists the environment, to warn about misspelt SENTINEL_…
	// variables; nil skips that check.
	Environ func() []string
	// Stdout receives command output (versions, usage, the generated admin
	// password); Stderr receives errors and logs. nil discards.
	Stdout, Stderr io.Writer
	// Dir resolves the relative paths of the .env file, --config and the
	// data directory; empty means the process's working directory.
	Dir string
}

// OSEnv is the process's environment, stdout and stderr.
func OSEnv() Env {
	return Env{LookupEnv: os.LookupEnv, Environ: os.Environ, Stdout: os.Stdout, Stderr: os.Stderr}
}

// SignalContext returns a context cancelled by the first SIGINT or
// SIGTERM. After the first, signals get their default action again, so a
// second one during the drain ends the process at once.
func SignalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// command is one of a binary's commands and the secrets it uses.
type command struct {
	name  string
	needs config.Needs
}

// commands lists what each binary runs. The default command is "serve"
// ("run" for sentinel-archiver).
func commands(b Binary) []command {
	migrate := command{name: "migrate"} // writes nothing, needs no secret
	switch b {
	case AllInOne:
		return []command{{name: "serve", needs: config.Needs{HMAC: true, Admin: true}}, migrate}
	case ProxyOnly:
		return []command{{name: "serve", needs: config.Needs{HMAC: true}}}
	case AdminOnly:
		return []command{{name: "serve", needs: config.Needs{HMAC: true, Admin: true}}, migrate}
	case ArchiverOnly:
		return []command{{name: "run"}, {name: "once"}} // no secret: it hashes no key
	}
	return nil
}

func lookupCommand(b Binary, name string) (command, bool) {
	for _, c := range commands(b) {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Main runs the binary with its arguments (without the program name) until
// ctx is done, and returns the process exit code: 0, 1 when the command
// failed, 2 for bad usage or configuration.
func Main(ctx context.Context, b Binary, name string, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	cmdName := "serve"
	if b == ArchiverOnly {
		cmdName = "run"
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmdName, args = args[0], args[1:]
	}
	switch cmdName {
	case "version":
		fmt.Fprintln(env.Stdout, versionLine(name))
		return exitOK
	case "healthcheck":
		return runHealthcheck(ctx, name, args, env)
	case "config":
		return runConfigCheck(b, name, args, env)
	case "openapi":
		if b == AdminOnly {
			return runOpenAPI(env, name, args)
		}
	case "help":
		fs, _ := newFlags(name, b, cmdName, env)
		usage(env.Stdout, b, name, fs)
		return exitOK
	}
	cmd, ok := lookupCommand(b, cmdName)
	if !ok {
		fmt.Fprintf(env.Stderr, "%s: unknown command %q\n\n", name, cmdName)
		fs, _ := newFlags(name, b, "serve", env)
		usage(env.Stderr, b, name, fs)
		return exitUsage
	}

	fs, loader := newFlags(name, b, cmd.name, env)
	demo := fs.Bool("demo", false, "serve a bundled demo upstream and forward to it (tries Sentinel without a gateway)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	cfg, err := loader.Load()
	if err == nil {
		err = config.EnsureSecrets(cfg, cmd.needs, env.Stdout)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	log := newLogger(env.Stderr, cfg)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}

	switch cmd.name {
	case "migrate":
		err = runMigrate(ctx, cfg, log, fs.Args())
	case "once", "run":
		err = runArchiver(ctx, cfg, log, cmd.name == "once")
	case "serve":
		if b == AdminOnly {
			err = runAdminServe(ctx, cfg, log)
			break
		}
		fallthrough
	default:
		err = runServe(ctx, b, cfg, log, *demo)
	}
	if err != nil {
		log.Error(name+" stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// newFlags returns the command's flag set, writing to env's stderr, with
// the configuration flags registered.
func newFlags(name string, b Binary, cmd string, env Env) (*pflag.FlagSet, *config.Loader) {
	fs := pflag.NewFlagSet(name+" "+cmd, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { usage(env.Stderr, b, name, fs) }
	return fs, config.NewLoader(fs, config.Environment{LookupEnv: env.LookupEnv, Environ: env.Environ, Dir: env.Dir})
}

func usage(w io.Writer, b Binary, name string, fs *pflag.FlagSet) {
	switch b {
	case AllInOne:
		fmt.Fprintf(w, "Usage:\n  %s [serve] [flags]             run the proxy, the admin API and console (ADMIN_HOST:ADMIN_PORT) and the archiver\n  %s migrate up|down|status [flags]  manage the PostgreSQL schema\n  %s version\n", name, name, name)
	case ProxyOnly:
		fmt.Fprintf(w, "Usage:\n  %s [flags]   run the proxy\n  %s version\n", name, name)
	case AdminOnly:
		fmt.Fprintf(w, "Usage:\n  %s [serve] [flags]                  serve the admin API and console on ADMIN_HOST:ADMIN_PORT\n"+
			"  %s openapi [--format yaml|json|3.0]  print the admin API's OpenAPI document (3.1 YAML by default)\n"+
			"  %s migrate up|down|status [flags]   manage the PostgreSQL schema\n  %s version\n", name, name, name, name)
	case ArchiverOnly:
		fmt.Fprintf(w, "Usage:\n  %s [run] [flags]   archive idle bindings and old intercepts every interval\n  %s once [flags]    do it once (for cron)\n  %s version\n", name, name, name)
	}
	fmt.Fprintf(w, "  %s config check [flags]   validate the configuration, print it with secrets masked\n"+
		"  %s healthcheck URL        GET URL; exit 0 on 2xx (for container health checks)\n", name, name)
	fmt.Fprintf(w, "\nEvery flag can also be set by the environment variable in brackets, a .env file or --config.\n\nFlags:\n")
	fmt.Fprint(w, fs.FlagUsages())
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runOpenAPI is `sentinel-admin openapi`: it needs no configuration.
func runOpenAPI(env Env, name string, args []string) int {
	fs := pflag.NewFlagSet(name+" openapi", pflag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	format := fs.String("format", "yaml", "yaml (OpenAPI 3.1), json (3.1) or 3.0 (the 3.0.3 downgrade, YAML)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	if err := printOpenAPI(env.Stdout, *format); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	return exitOK
}
