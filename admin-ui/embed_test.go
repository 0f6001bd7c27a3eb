package adminui_test

import (
	"io/fs"
	"strings"
	"testing"

	adminui "github.com/keyipsentinel/sentinel/admin-ui"
)

func TestFSServesTheBuiltConsole(t *testing.T) {
	root, err := adminui.FS()
	if err != nil {
		t.Fatalf("FS: %v", err)
	}
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		t.Fatalf("index.html: %v", err)
	}
	if !strings.Contains(string(index), `src="/admin/ui/assets/`) {
		t.Errorf("index.html does not load its script from /admin/ui/assets/:\n%s", index)
	}
	assets, err := fs.ReadDir(root, "assets")
	if err != nil {
		t.Fatalf("assets: %v", err)
	}
	if len(assets) == 0 {
		t.Error("no files under assets/")
	}
}
