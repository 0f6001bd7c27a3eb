package httpproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestIDsAreCheap: a generated id costs one allocation (its
// string and the header slice together), no random read and no lock.
func TestRequestIDsAreCheap(t *testing.T) {
	ids := newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		v := ids.next()
		if len(v) != 1 {
			t.Fatalf("next gave %d values, want 1", len(v))
		}
		id := v[0]
		if len(id) != 32 || seen[id] || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q is malformed or repeated", id)
		}
		seen[id] = true
	}
	if n := testing.AllocsPerRun(1000, func() { _ = ids.next() }); n > 1 {
		t.Errorf("next allocates %v times, want at most 1", n)
	}
	h := withRequestID(nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(1000, func() { delete(r.Header, requestIDHeader); h.ServeHTTP(w, r) }); n > 1 {
		t.Errorf("the wrapper allocates %v times per request, want at most 1 (the id with its header slice)", n)
	}
}

func BenchmarkRequestID(b *testing.B) {
	h := withRequestID(nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		delete(r.Header, requestIDHeader)
		h.ServeHTTP(w, r)
	}
}
