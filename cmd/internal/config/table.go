package config

import (
	"bytes"
	"errors"
	"strings"
)

//go:generate go run ./gen ../../../README.md

// The markers between which README.md holds the generated configuration
// table.
const (
	TableBegin = "<!-- config-table:begin -->"
	TableEnd   = "<!-- config-table:end -->"
)

// MarkdownTable renders every setting as the README's configuration table:
// variable, flag, default and meaning, in table order. It is the one source
// of the README's table (go generate ./cmd/internal/config), so defaults and
// meanings cannot drift from the code.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range table {
		def := "unset"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		help := strings.ReplaceAll(s.Help, "|", `\|`)
		if s.Secret {
			help += " (secret: never logged or shown by config check)"
		}
		b.WriteString("| `" + s.Name + "` | `--" + s.Flag + "` | " + def + " | " + help + " |\n")
	}
	return b.String()
}

// ReplaceTable returns readme with the text between TableBegin and
// TableEnd replaced by MarkdownTable.
func ReplaceTable(readme []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(TableBegin))
	j := bytes.Index(readme, []byte(TableEnd))
	if i < 0 || j < i {
		return nil, errors.New("README.md: the markers " + TableBegin + " and " + TableEnd + " are missing or out of order")
	}
	var out bytes.Buffer
	out.Write(readme[:i+len(TableBegin)])
	out.WriteString("\n" + MarkdownTable())
	out.Write(readme[j:])
	return out.Bytes(), nil
}
