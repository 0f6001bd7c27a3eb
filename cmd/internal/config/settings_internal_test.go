package config

import (
	"regexp"
	"testing"
)

// TestSettingsTable: every Key has a complete, unique entry, so a Key
// added without its table row fails here.
func TestSettingsTable(t *testing.T) {
	names, flags := map[string]Key{}, map[string]Key{}
	envName := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	flagName := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	for _, k := range keys() {
		s := k.Setting()
		if !envName.MatchString(s.Name) || !flagName.MatchString(s.Flag) || s.Help == "" {
			t.Errorf("Key %d has an incomplete entry: %+v", k, s)
		}
		if prev, dup := names[s.Name]; dup {
			t.Errorf("%s is declared by Key %d and Key %d", s.Name, prev, k)
		}
		if prev, dup := flags[s.Flag]; dup {
			t.Errorf("--%s is declared by Key %d and Key %d", s.Flag, prev, k)
		}
		names[s.Name], flags[s.Flag] = k, k
	}
}

// TestEverySettingIsRead: a setting declared but never read into the
// Config (the twin of a misspelt read) fails here.
func TestEverySettingIsRead(t *testing.T) {
	p := &parser{value: func(k Key) string { return table[k].Default }}
	fill(p)
	for _, k := range keys() {
		if !p.read[k] {
			t.Errorf("%s is declared but Load never reads it", k)
		}
	}
}
