package httpproxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRequestIDsAreCheap: a generated id costs its string and the header
// slice, no random read and no lock.
func TestRequestIDsAreCheap(t *testing.T) {
	ids := newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		id := ids.next()
		if len(id) != 32 || seen[id] {
			t.Fatalf("id %q is malformed or repeated", id)
		}
		seen[id] = true
	}
	if n := testing.AllocsPerRun(1000, func() { _ = ids.next() }); n > 1 {
		t.Errorf("next allocates %v times, want at most 1 (the string)", n)
	}
	h := withRequestID(nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(1000, func() { delete(r.Header, requestIDHeader); h.ServeHTTP(w, r) }); n > 2 {
		t.Errorf("the wrapper allocates %v times per request, want at most 2 (the id and its header slice)", n)
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
