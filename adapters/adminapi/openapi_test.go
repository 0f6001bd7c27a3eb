package adminapi_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/adminapi"
)

var update = flag.Bool("update", false, "rewrite the committed OpenAPI documents")

// TestOpenAPIFiles fails when the committed documents differ from what the
// code describes; -update rewrites them.
func TestOpenAPIFiles(t *testing.T) {
	v31, v30, err := adminapi.Documents()
	require.NoError(t, err)
	for name, want := range map[string][]byte{"openapi.yaml": v31, "openapi-3.0.yaml": v30} {
		if *update {
			require.NoError(t, os.WriteFile(name, want, 0o644))
			continue
		}
		got, err := os.ReadFile(name)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s is stale: run go generate ./adapters/adminapi", name)
	}
}

// TestOpenAPIValid validates the committed 3.0 document with kin-openapi
// (which reads 3.0; the 3.1 one is its source and differs only in form).
func TestOpenAPIValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile("openapi-3.0.yaml")
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			require.NotEmpty(t, op.OperationID, "%s %s", method, path)
			require.NotEmpty(t, op.Summary, "%s %s", method, path)
			require.NotEmpty(t, op.Tags, "%s %s", method, path)
		}
	}
}
