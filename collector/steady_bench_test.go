package collector_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// overlapRereader is the steady refresh before issue 10, kept here as the
// yardstick of BenchmarkSteadyScrapeCost: every refresh read, for each
// query type, every session created since the overlap before the previous
// refresh, or since the oldest session still running then if that was
// older, but never before the lookback.
type overlapRereader struct {
	client *veeam.Client
	types  []string
	// since and oldestRunning, per query type, as the previous refresh
	// left them.
	appliedAt     time.Time
	oldestRunning map[string]time.Time
}

func (o *overlapRereader) refresh(tb testing.TB, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	for _, typ := range o.types {
		since := now.Add(-scaleLookback)
		if !o.appliedAt.IsZero() {
			since = o.appliedAt.Add(-overlap)
			if r := o.oldestRunning[typ]; !r.IsZero() && r.Before(since) {
				since = r
			}
			since = later(since, now.Add(-scaleLookback))
		}
		var oldest time.Time
		running := func(created time.Time, completed bool) {
			if !completed && (oldest.IsZero() || created.Before(oldest)) {
				oldest = created
			}
		}
		sel := veeam.Created(veeam.Window{Since: since, Until: now})
		var err error
		switch typ {
		case veeam.ReplicaTaskSessionType:
			_, err = o.client.ReplicaTaskSessions(ctx, sel, func(p veeam.Page[veeam.ReplicaTaskSession]) error {
				for i := range p.Items {
					running(p.Items[i].CreationTime, p.Items[i].Completed())
				}
				return nil
			})
		case veeam.ReplicaJobSessionType:
			_, err = o.client.ReplicaJobSessions(ctx, sel, func(p veeam.Page[veeam.ReplicaJobSession]) error {
				for i := range p.Items {
					running(p.Items[i].CreationTime, p.Items[i].Completed())
				}
				return nil
			})
		case veeam.BackupTaskSessionType:
			_, err = o.client.BackupTaskSessions(ctx, sel, func(p veeam.Page[veeam.BackupTaskSession]) error {
				for i := range p.Items {
					running(p.Items[i].CreationTime, p.Items[i].Completed())
				}
				return nil
			})
		case veeam.BackupJobSessionType:
			_, err = o.client.BackupJobSessions(ctx, sel, func(p veeam.Page[veeam.BackupJobSession]) error {
				for i := range p.Items {
					running(p.Items[i].CreationTime, p.Items[i].Completed())
				}
				return nil
			})
		}
		if err != nil {
			tb.Fatal(err)
		}
		o.oldestRunning[typ] = oldest
	}
	o.appliedAt = now
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// emCost is what the simulator served since its log was last reset.
type emCost struct {
	bytes             int64
	entities, queries int
}

func servedBy(sim *emsim.Running) emCost {
	var c emCost
	for _, r := range sim.Requests() {
		if r.Type == "" {
			continue
		}
		c.bytes += r.Bytes
		c.entities += r.Entities
		c.queries++
	}
	return c
}

func startScaleSim(tb testing.TB, topology emsim.Topology, clock *emsim.ManualClock) *emsim.Running {
	tb.Helper()
	sim, err := emsim.Start(emsim.Config{Seed: 7, Username: simUser, Password: simPassword, Clock: clock, Topology: topology, IdleTimeout: 30 * 24 * time.Hour}, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sim.Close)
	return sim
}

func newScaleClient(tb testing.TB, url string, now func() time.Time) *veeam.Client {
	tb.Helper()
	client, err := veeam.New(veeam.Config{URL: url, Username: simUser, Password: func() (string, error) { return simPassword, nil }, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(client.Close)
	return client
}

// BenchmarkSteadyScrapeCost is issue 10's target: at the scale preset, both
// session collectors on, a scrape every minute for a simulated hour after
// the first load, what EM serves per scrape with the overlap re-read at
// every refresh (before issue 10) and with the current algorithm, side by
// side on two simulators of the same seed and clock. Target: at most 10 %
// of the bytes and of the entities. With late=on, 5 % of the sessions, and
// of their completions, reach EM 1 to 10 minutes late. Run with
// -benchtime 1x.
func BenchmarkSteadyScrapeCost(b *testing.B) {
	for _, late := range []bool{false, true} {
		name := "late=off"
		topology := emsim.ScaleTopology()
		if late {
			name = "late=on"
			topology.LateFraction, topology.LateDelayMin, topology.LateDelayMax = 0.05, time.Minute, 10*time.Minute
		}
		b.Run(name, func(b *testing.B) {
			var old, cur emCost
			scrapes := 0
			for b.Loop() {
				clock := emsim.NewManualClock(scaleStart)
				oldSim, newSim := startScaleSim(b, topology, clock), startScaleSim(b, topology, clock)
				rereader := &overlapRereader{
					client:        newScaleClient(b, oldSim.URL, clock.Now),
					types:         []string{veeam.ReplicaTaskSessionType, veeam.ReplicaJobSessionType, veeam.BackupTaskSessionType, veeam.BackupJobSessionType},
					oldestRunning: map[string]time.Time{},
				}
				c := collector.New(newScaleClient(b, newSim.URL, clock.Now), collector.Options{Lookback: scaleLookback, Overlap: overlap, Now: clock.Now})
				rereader.refresh(b, clock.Now())
				if err := c.Refresh(context.Background()); err != nil {
					b.Fatal(err)
				}
				oldSim.ResetRequests()
				newSim.ResetRequests()
				for range 60 {
					clock.Advance(time.Minute)
					rereader.refresh(b, clock.Now())
					if err := c.Refresh(context.Background()); err != nil {
						b.Fatal(err)
					}
					scrapes++
				}
				o, n := servedBy(oldSim), servedBy(newSim)
				old.bytes, old.entities, old.queries = old.bytes+o.bytes, old.entities+o.entities, old.queries+o.queries
				cur.bytes, cur.entities, cur.queries = cur.bytes+n.bytes, cur.entities+n.entities, cur.queries+n.queries
				c.Close()
			}
			perScrape := func(v float64) float64 { return v / float64(scrapes) }
			b.ReportMetric(perScrape(float64(old.bytes))/1e6, "old-MB/scrape")
			b.ReportMetric(perScrape(float64(cur.bytes))/1e6, "new-MB/scrape")
			b.ReportMetric(100*float64(cur.bytes)/float64(old.bytes), "bytes-%-of-old")
			b.ReportMetric(perScrape(float64(old.entities)), "old-entities/scrape")
			b.ReportMetric(perScrape(float64(cur.entities)), "new-entities/scrape")
			b.ReportMetric(100*float64(cur.entities)/float64(old.entities), "entities-%-of-old")
			b.ReportMetric(perScrape(float64(old.queries)), "old-requests/scrape")
			b.ReportMetric(perScrape(float64(cur.queries)), "new-requests/scrape")
			if cur.bytes*10 > old.bytes || cur.entities*10 > old.entities {
				b.Errorf("a steady scrape costs %.1f %% of the bytes and %.1f %% of the entities of re-reading the overlap, want at most 10 %%",
					100*float64(cur.bytes)/float64(old.bytes), 100*float64(cur.entities)/float64(old.entities))
			}
		})
	}
}

// BenchmarkDayWithLateArrivalsScale scrapes the scale preset every minute
// for a simulated day while 5 % of the sessions, and of their completions,
// reach EM 1 to 10 minutes late, then checks the counters against the
// simulator's truth as TestDayWithLateArrivals does, and reports the EM
// bytes of an average steady scrape. Run with -benchtime 1x.
func BenchmarkDayWithLateArrivalsScale(b *testing.B) {
	topology := emsim.ScaleTopology()
	topology.LateFraction, topology.LateDelayMin, topology.LateDelayMax = 0.05, time.Minute, 10*time.Minute
	for b.Loop() {
		clock := emsim.NewManualClock(scaleStart)
		sim := startScaleSim(b, topology, clock)
		c := collector.New(newScaleClient(b, sim.URL, clock.Now), collector.Options{Lookback: scaleLookback, Overlap: overlap, Now: clock.Now})
		ctx := context.Background()
		if err := c.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		sim.ResetRequests()
		const scrapes = 24 * 60
		var cost emCost
		for minute := 1; minute <= scrapes; minute++ {
			clock.Advance(time.Minute)
			if err := c.Refresh(ctx); err != nil {
				b.Fatalf("minute %d: %v", minute, err)
			}
			if minute%60 == 0 {
				// The simulator's log keeps at most 100,000 requests.
				s := servedBy(sim)
				cost.bytes, cost.entities, cost.queries = cost.bytes+s.bytes, cost.entities+s.entities, cost.queries+s.queries
				sim.ResetRequests()
			}
		}
		// Once nothing is late any more and a rescan has run, every session
		// created before is counted once.
		clock.Advance(topology.LateDelayMax)
		if err := c.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		clock.Advance(collector.DefaultRescanInterval)
		if err := c.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		now := clock.Now()
		settled := now.Add(-collector.DefaultRescanInterval - topology.LateDelayMax)
		from := scaleStart.Add(-scaleLookback).Truncate(time.Second)
		reg := prometheusRegistry(c)
		for _, f := range []struct {
			family string
			shown  []emsim.TaskSession
		}{
			{"veeam_em_replica_task_sessions_total", sim.TaskSessionsShown(now)},
			{"veeam_em_backup_task_sessions_total", sim.BackupTaskSessionsShown(now)},
		} {
			var low []emsim.TaskSession
			for _, ts := range f.shown {
				if ts.Creation.Before(settled) {
					low = append(low, ts)
				}
			}
			countersWithin(b, reg, f.family, from, low, f.shown)
		}
		b.ReportMetric(float64(cost.bytes)/scrapes/1e6, "MB/scrape")
		b.ReportMetric(float64(cost.entities)/scrapes, "entities/scrape")
		b.ReportMetric(float64(cost.queries)/scrapes, "requests/scrape")
		c.Close()
		b.StartTimer()
	}
}

func prometheusRegistry(c *collector.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}

// BenchmarkReplicaPointCost is the cost target of the replica_point
// collector: at the scale preset (4,000 replicated VMs, 7 to 14 restore
// points each), scraped every minute for three simulated hours after the
// first loads, the EM bytes per hour of the replica_point collector next to
// those of the replica session collector, on one simulator. Target: the
// points' below the sessions'. The first loads are reported apart. Run
// with -benchtime 1x.
func BenchmarkReplicaPointCost(b *testing.B) {
	const hours = 3
	topology := emsim.ScaleTopology()
	var points, sessions, pointLoad, sessionLoad float64
	var pointRequests, sessionRequests float64
	for b.Loop() {
		clock := emsim.NewManualClock(scaleStart)
		sim := startScaleSim(b, topology, clock)
		c := collector.New(newScaleClient(b, sim.URL, clock.Now), collector.Options{
			Lookback: scaleLookback, Overlap: overlap, Now: clock.Now,
			Kinds: []collector.Kind{collector.Replica, collector.ReplicaPoint},
		})
		ctx := context.Background()
		if err := c.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		byType := func() (pointBytes, sessionBytes, pointReqs, sessionReqs float64) {
			for _, r := range sim.Requests() {
				switch r.Type {
				case veeam.VmReplicaPointType:
					pointBytes += float64(r.Bytes)
					pointReqs++
				case veeam.ReplicaTaskSessionType, veeam.ReplicaJobSessionType:
					sessionBytes += float64(r.Bytes)
					sessionReqs++
				}
			}
			return
		}
		pointLoad, sessionLoad, _, _ = byType()
		sim.ResetRequests()
		for minute := 1; minute <= hours*60; minute++ {
			clock.Advance(time.Minute)
			if err := c.Refresh(ctx); err != nil {
				b.Fatalf("minute %d: %v", minute, err)
			}
			if minute%60 == 0 {
				p, s, pr, sr := byType()
				points, sessions, pointRequests, sessionRequests = points+p, sessions+s, pointRequests+pr, sessionRequests+sr
				sim.ResetRequests()
			}
		}
		c.Close()
	}
	b.ReportMetric(points/hours/1e6, "points-MB/hour")
	b.ReportMetric(sessions/hours/1e6, "sessions-MB/hour")
	b.ReportMetric(100*points/sessions, "points-%-of-sessions")
	b.ReportMetric(pointRequests/hours, "points-requests/hour")
	b.ReportMetric(sessionRequests/hours, "sessions-requests/hour")
	b.ReportMetric(pointLoad/1e6, "points-load-MB")
	b.ReportMetric(sessionLoad/1e6, "sessions-load-MB")
	if points >= sessions {
		b.Errorf("the replica_point collector costs EM %.1f MB an hour, the replica sessions %.1f: want less", points/hours/1e6, sessions/hours/1e6)
	}
}
