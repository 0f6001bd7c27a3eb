package httpproxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// The Middleware around any handler: the first client address to use a
// key owns it; the same key from elsewhere is refused. The Binder and the
// Middleware read the enforcement and failsafe modes from one LiveSettings.
func ExampleMiddleware_Wrap() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "sentinel-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sqlite.Open(ctx, filepath.Join(dir, "sentinel.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	settings, err := sentinel.NewLiveSettings(sentinel.DefaultSettings())
	if err != nil {
		log.Fatal(err)
	}
	decider, err := sentinel.NewBinder(localcache.New(sqlite.NewBindingStore(db), localcache.Options{}), sentinel.BinderOptions{Settings: settings})
	if err != nil {
		log.Fatal(err)
	}
	hasher, err := sentinel.NewHasher([]byte("example-secret-at-least-32-bytes-long"))
	if err != nil {
		log.Fatal(err)
	}
	mw, err := httpproxy.NewMiddleware(httpproxy.MiddlewareOptions{Decider: decider, Hasher: hasher, Settings: settings})
	if err != nil {
		log.Fatal(err)
	}
	// Run removes the bindings of keys the API answers 401 (junk keys).
	go mw.Run(ctx)

	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s", r.Header.Get("X-Real-IP"))
	})
	handler := mw.Wrap(api)

	for _, from := range []string{"192.0.2.1:50000", "192.0.2.1:50001", "198.51.100.7:40000"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		req.RemoteAddr = from
		req.Header.Set("Authorization", "Bearer sk-example-key")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			var e struct{ Error struct{ Code string } }
			json.Unmarshal(rec.Body.Bytes(), &e)
			fmt.Println(from, rec.Code, e.Error.Code)
			continue
		}
		fmt.Println(from, rec.Code, rec.Body.String())
	}
	// Output:
	// 192.0.2.1:50000 200 hello, 192.0.2.1
	// 192.0.2.1:50001 200 hello, 192.0.2.1
	// 198.51.100.7:40000 403 ip_not_allowed
}
