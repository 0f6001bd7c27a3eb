package httpproxy_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
)

// TestFirstUseRace: 200 clients on 200 addresses use a new key at once.
// Exactly one binding results, and only the winner's requests reach the
// downstream.
func TestFirstUseRace(t *testing.T) {
	s := newStack(t, stackOptions{})
	const n = 200
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ip := fmt.Sprintf("127.0.%d.%d", 1+i/250, 2+i%250)
		client := clientFrom(t, ip)
		wg.Go(func() {
			<-start
			req := get(t, s.URL, "/v1/models", "Authorization", "Bearer sk-"+realKey)
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s: %v", ip, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()

	bs, total, err := s.Bindings.ListBindings(context.Background(), sentinel.BindingFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total, "exactly one binding")
	winner := bs[0].FirstIP.String()

	ok := 0
	for _, st := range statuses {
		switch st {
		case http.StatusOK:
			ok++
		case http.StatusForbidden:
		default:
			t.Fatalf("unexpected status %d", st)
		}
	}
	require.Equal(t, 1, ok, "one address, one request: one forwarded")
	seen := s.Up.requests()
	require.Len(t, seen, ok)
	for _, r := range seen {
		require.Equal(t, winner, r.RealIP, "only the winner's address was forwarded")
	}
}
