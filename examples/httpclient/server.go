package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// flakyServer is the misbehaving upstream: each path answers its requests
// from a script of steps, then with 200 once the script is used up.
//
// A step is a status code ("503"), optionally with a Retry-After value
// ("503 1"), or "hang": wait until the client gives up.
type flakyServer struct {
	mu     sync.Mutex // guards script
	script map[string][]string
}

func newFlakyServer() *flakyServer {
	return &flakyServer{script: map[string][]string{
		"/orders":    {"503 1"},             // busy: come back in a second
		"/report":    {"hang"},              // stuck: the attempt timeout cuts it
		"/inventory": {"500", "500", "500"}, // broken until the breaker has opened
		"/search":    {"429 1"},             // rate limited by the server
		"/payments":  {"503 1"},             // busy, but a POST without an Idempotency-Key is sent once
	}}
}

// next pops the step for path.
func (s *flakyServer) next(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	steps := s.script[path]
	if len(steps) == 0 {
		return "200"
	}
	s.script[path] = steps[1:]
	return steps[0]
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	step := s.next(r.URL.Path)
	if step == "hang" {
		// Wait for the client to give up; the timer only bounds a client
		// that never does.
		t := time.NewTimer(time.Minute)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		return
	}
	var code int
	var retryAfter string
	fmt.Sscan(step, &code, &retryAfter)
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	switch {
	case code == http.StatusOK && r.Method == http.MethodPost:
		// Echo the body: it proves a retried request sent it whole again.
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "created from %s", strings.TrimSpace(string(body)))
	case code == http.StatusOK:
		fmt.Fprintf(w, "contents of %s", r.URL.Path)
	default:
		http.Error(w, http.StatusText(code), code)
	}
}
