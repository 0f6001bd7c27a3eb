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
		if v := l.files.GetString(strings.ToLower(s.Name)); v != "" {
			return v
		}
	}
	return s.Default
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
	l.files.SetConfigType("dotenv")
	if err := l.files.MergeConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%s: %w", envFile, err)
	}
	return nil
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
