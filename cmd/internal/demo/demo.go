// Package demo is a tiny OpenAI-compatible upstream for trying Sentinel
// without a real gateway: GET /v1/models answers a model list, POST
// /v1/chat/completions streams a few SSE events when asked to stream, and
// every answer says which client address Sentinel reported.
package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Handler returns the demo upstream.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"object":      "list",
			"data":        []map[string]any{{"id": "demo-model", "object": "model", "owned_by": "sentinel-demo"}},
			"seen_client": r.Header.Get("X-Real-IP"),
		})
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if !strings.Contains(strings.ReplaceAll(string(body), " ", ""), `"stream":true`) {
			writeJSON(w, map[string]any{
				"object":  "chat.completion",
				"choices": []map[string]any{{"index": 0, "message": map[string]string{"role": "assistant", "content": "Hello from the demo upstream."}}},
			})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i, word := range []string{"Hello", " from", " the", " demo", " upstream."} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}],\"n\":%d}\n\n", word, i)
			http.NewResponseController(w).Flush()
			time.Sleep(200 * time.Millisecond)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]any{"error": map[string]string{"message": "the demo upstream only knows /v1/models and /v1/chat/completions", "type": "invalid_request_error"}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Start serves the demo upstream on a free loopback port and returns its
// base URL and a function that stops it.
func Start() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
