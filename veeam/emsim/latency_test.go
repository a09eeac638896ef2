package emsim

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestLatencyDelaysEveryAPIRequest(t *testing.T) {
	const latency = 60 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.Latency = latency })
	began := time.Now()
	token := h.logon()
	if took := time.Since(began); took < latency {
		t.Errorf("logon answered after %v, want at least %v", took, latency)
	}

	// Concurrent requests wait side by side, not one after another.
	began = time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if resp := h.mustDo(http.MethodGet, "/api/query?type=ReplicaTaskSession&format=Entities&pageSize=5", token, nil); resp.status != http.StatusOK {
				t.Errorf("query status %d", resp.status)
			}
		})
	}
	wg.Wait()
	if took := time.Since(began); took < latency || took > 3*latency+time.Second {
		t.Errorf("4 concurrent queries took %v, want about %v", took, latency)
	}

	began = time.Now()
	if resp := h.mustDo(http.MethodGet, "/elsewhere", "", nil); resp.status != http.StatusNotFound {
		t.Errorf("status %d outside /api, want 404", resp.status)
	}
	if took := time.Since(began); took >= latency {
		t.Errorf("a path outside /api took %v: the latency is for EM's API only", took)
	}
}

func TestLatencyGivesUpWithTheClient(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Latency = time.Hour })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := h.do(ctx, http.MethodGet, "/api/", "", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	// Close must not wait out the hour for the abandoned handler.
	h.sim.Close()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("gave up after %v", took)
	}
}

func TestNegativeLatencyIsRejected(t *testing.T) {
	_, err := New(Config{Username: testUser, Password: testPassword, Topology: TestTopology(), Latency: -time.Millisecond})
	if err == nil {
		t.Fatal("New accepted a negative latency")
	}
}

// TestSetLatency makes a running EM slow, then fast again, while requests
// are in flight.
func TestSetLatency(t *testing.T) {
	const latency = 80 * time.Millisecond
	h := newHarness(t, nil)
	token := h.logon()
	// timed may run on any goroutine, so it reports with Error only.
	timed := func() time.Duration {
		began := time.Now()
		resp, err := h.do(t.Context(), http.MethodGet, "/api/query?type=ReplicaJobSession&pageSize=1", token, nil)
		if err != nil || resp.status != http.StatusOK {
			t.Errorf("query: %d, %v", resp.status, err)
		}
		return time.Since(began)
	}

	h.sim.SetLatency(latency)
	if took := timed(); took < latency {
		t.Errorf("after SetLatency(%v): answered in %v", latency, took)
	}
	for _, d := range []time.Duration{0, -time.Hour} {
		h.sim.SetLatency(d)
		if took := timed(); took >= latency {
			t.Errorf("after SetLatency(%v): answered in %v, want at once", d, took)
		}
	}

	// Changing it while requests wait is safe (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { h.sim.SetLatency(time.Duration(i%2) * time.Millisecond) })
		wg.Go(func() { _ = timed() })
	}
	wg.Wait()
}
