package emsim

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// Queries, ground-truth reads and a moving clock that keeps extending the
// planned history must not race (run with -race) and must stay consistent.
func TestConcurrentQueriesWhileTimeMoves(t *testing.T) {
	// The clock jumps hours ahead here; idle expiry has its own test.
	h := newHarness(t, func(c *Config) { c.Topology = DemoTopology(); c.IdleTimeout = 48 * time.Hour })
	token := h.logon()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				resp, err := h.do(t.Context(), http.MethodGet, "/api/query?type=ReplicaTaskSession&format=Entities&sortDesc=CreationTime&pageSize=50", token, nil)
				if err != nil || resp.status != http.StatusOK {
					t.Errorf("query during clock moves: %d %v", resp.status, err)
					return
				}
				decodeQuery(t, resp.body)
			}
		})
	}
	wg.Go(func() {
		for range 40 {
			h.clock.Advance(5 * time.Minute)
			if len(h.sim.JobSessions(h.clock.Now())) == 0 {
				t.Error("no job sessions")
			}
		}
	})
	wg.Wait()
	now := h.clock.Now()
	tasks := h.sim.TaskSessions(now)
	if newest := tasks[len(tasks)-1].Creation; now.Sub(newest) > 5*time.Minute {
		t.Errorf("newest task session %v is far behind the clock %v", newest, now)
	}
}
