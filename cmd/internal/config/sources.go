package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Environment is what the loader reads besides flags. The loader reads
// nothing else of the process: tests and embedders pass their own.
type Environment struct {
	// LookupEnv reads an environment variable (os.LookupEnv for the
	// process's); nil reads an empty environment.
	LookupEnv func(name string) (string, bool)
	// Environ lists the environment (os.Environ), only to warn about
	// SENTINEL_… variables that name no setting; nil skips the check.
	Environ func() []string
	// Dir resolves the relative paths of the .env file, --config and the
	// data directory; empty means the process's working directory.
	Dir string
}

func (e Environment) lookup(name string) string {
	if e.LookupEnv == nil {
		return ""
	}
	v, _ := e.LookupEnv(name)
	return v
}

func (e Environment) path(p string) string {
	if e.Dir == "" || p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.Dir, p)
}

// Loader reads the configuration from its sources, lowest to highest:
// defaults, the config file, the .env file, the environment, flags. An
// empty value at one level counts as unset there, as with viper.
type Loader struct {
	fs    *pflag.FlagSet
	env   Environment
	files *viper.Viper // the config file, then the .env file merged over it
}

// NewLoader registers one flag per setting on fs and returns a loader for
// after fs.Parse.
func NewLoader(fs *pflag.FlagSet, env Environment) *Loader {
	for _, s := range table {
		help := s.Help + " [" + s.Name + "]"
		if s.Default != "" {
			help += " (default " + s.Default + ")"
		}
		fs.String(s.Flag, "", help)
	}
	return &Loader{fs: fs, env: env}
}

// value returns the highest source's value of k, or its default.
func (l *Loader) value(k Key) string {
	s := table[k]
	if f := l.fs.Lookup(s.Flag); f != nil && f.Changed {
		if v := f.Value.String(); v != "" {
			return v
		}
		return s.Default
	}
	if v := l.env.lookup(s.Name); v != "" {
		return v
	}
	if l.files != nil && !s.Locator {
		if v := fileValue(l.files.Get(strings.ToLower(s.Name))); v != "" {
			return v
		}
	}
	return s.Default
}

// fileValue turns a config file's value into the environment's text: a
// YAML/TOML/JSON list becomes the comma-separated list the environment
// would carry (TRUSTED_PROXY_IPS: [10.0.0.0/8, 192.168.0.0/16]).
func fileValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(x, ",")
	default:
		return fmt.Sprint(x)
	}
}

// readFiles reads the config file and the .env file, when there are.
// Unknown names in the config file are refused: the file is Sentinel's
// own, so one is a typo. A .env file is often shared with Compose and other
// programs, so its other names are left alone.
func (l *Loader) readFiles() error {
	l.files = viper.New()
	if file := l.env.path(l.value(ConfigFile)); file != "" {
		l.files.SetConfigFile(file)
		if err := l.files.ReadInConfig(); err != nil {
			return fmt.Errorf("--config (%s) %s: %w", ConfigFile, file, err)
		}
		if err := checkNames(l.files.AllKeys(), file); err != nil {
			return err
		}
	}
	envFile := l.value(EnvFile)
	explicit := envFile != ""
	if !explicit {
		envFile = ".env"
	}
	envFile = l.env.path(envFile)
	data, err := os.ReadFile(envFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil
	case err != nil:
		return fmt.Errorf("--env-file (%s) %s: %w", EnvFile, envFile, err)
	}
	dotenv := viper.New()
	dotenv.SetConfigType("dotenv")
	if err := dotenv.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%s: %w", envFile, err)
	}
	if err := checkDotenvNames(dotenv.AllKeys(), envFile); err != nil {
		return err
	}
	if err := l.files.MergeConfigMap(dotenv.AllSettings()); err != nil {
		return fmt.Errorf("%s: %w", envFile, err)
	}
	return nil
}

// checkDotenvNames refuses the names in a .env file that are in Sentinel's
// namespace (SENTINEL_…) but name no setting: typos such as
// SENTINEL_FAILSAFE=open would otherwise be silently ignored. The test
// suite's SENTINEL_TEST_… variables are left alone.
func checkDotenvNames(names []string, file string) error {
	known := map[string]bool{}
	for _, s := range table {
		known[strings.ToLower(s.Name)] = !s.Locator
	}
	var problems []string
	for _, n := range names {
		upper := strings.ToUpper(n)
		isLocator := !known[n] && hasName(n)
		switch {
		case isLocator:
			problems = append(problems, fmt.Sprintf("%s: is read from the environment or its flag only, not from %s", upper, file))
		case !known[n] && strings.HasPrefix(upper, "SENTINEL_") && !strings.HasPrefix(upper, "SENTINEL_TEST_"):
			problems = append(problems, fmt.Sprintf("%s: in %s names no setting (misspelt? --help lists every setting)", upper, file))
		}
	}
	return joinProblems(problems)
}

func hasName(lower string) bool {
	for _, s := range table {
		if strings.ToLower(s.Name) == lower {
			return true
		}
	}
	return false
}

func checkNames(names []string, file string) error {
	known := map[string]bool{}
	for _, s := range table {
		if !s.Locator {
			known[strings.ToLower(s.Name)] = true
		}
	}
	var unknown []string
	for _, n := range names {
		if !known[n] {
			unknown = append(unknown, strings.ToUpper(n))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("--config (%s) %s: unknown setting(s) %s (misspelt? --help lists every setting)",
		ConfigFile, file, strings.Join(unknown, ", "))
}

// unknownEnv returns a warning for each SENTINEL_… variable in the
// environment that names no setting. Only a warning: unlike a .env file,
// the environment is shared with whatever else runs there.
func (e Environment) unknownEnv() []string {
	if e.Environ == nil {
		return nil
	}
	var warnings []string
	for _, kv := range e.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SENTINEL_") && !strings.HasPrefix(name, "SENTINEL_TEST_") && !hasName(strings.ToLower(name)) {
			warnings = append(warnings, name+" is set but names no setting (misspelt? --help lists every setting)")
		}
	}
	sort.Strings(warnings)
	return warnings
}
