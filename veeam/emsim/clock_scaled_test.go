package emsim

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestScaledClockAt(t *testing.T) {
	anchor := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	clock, err := NewScaledClock(testStart, anchor, 4320)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		wall time.Time
		want time.Time
	}{
		{anchor, testStart},
		{anchor.Add(time.Second), testStart.Add(72 * time.Minute)},
		{anchor.Add(10 * time.Minute), testStart.Add(30 * 24 * time.Hour)},
		{anchor.Add(-time.Second), testStart.Add(-72 * time.Minute)},
		{anchor.Add(250 * time.Millisecond), testStart.Add(18 * time.Minute)},
	}
	for _, c := range cases {
		if got := clock.At(c.wall); !got.Equal(c.want) {
			t.Errorf("At(%v) = %v, want %v", c.wall, got, c.want)
		}
	}
	if got := clock.At(anchor.Add(1000 * time.Hour)); !got.Equal(testStart.Add(math.MaxInt64)) {
		t.Errorf("far past the range of a Duration the clock reads %v, want it held at the largest time", got)
	}
}

func TestScaledClockNowFollowsTheWallClock(t *testing.T) {
	clock, err := NewScaledClock(testStart, time.Now(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	first := clock.Now()
	time.Sleep(20 * time.Millisecond)
	if moved := clock.Now().Sub(first); moved < 20*time.Second {
		t.Errorf("after 20 ms of wall time the clock moved %v, want at least 20 s", moved)
	}
}

func TestScaledClockStringRoundTrips(t *testing.T) {
	anchor := time.Date(2026, 11, 24, 14, 30, 0, 123456789, time.FixedZone("CET", 3600))
	clock, err := NewScaledClock(testStart, anchor, 4320.5)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseScaledClock(clock.String())
	if err != nil {
		t.Fatalf("parse %q: %v", clock.String(), err)
	}
	if parsed.String() != clock.String() {
		t.Errorf("round trip: %q became %q", clock.String(), parsed.String())
	}
	wall := anchor.Add(7 * time.Second)
	if !parsed.At(wall).Equal(clock.At(wall)) {
		t.Errorf("the parsed clock reads %v, the original %v", parsed.At(wall), clock.At(wall))
	}
	if parsed.Speed() != 4320.5 {
		t.Errorf("Speed() = %v, want 4320.5", parsed.Speed())
	}
}

func TestParseScaledClockRejects(t *testing.T) {
	cases := []struct {
		value, wantErr string
	}{
		{"", "START,ANCHOR,SPEED"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z", "START,ANCHOR,SPEED"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,1,2", "START,ANCHOR,SPEED"},
		{"yesterday,2026-01-01T00:00:00Z,10", "start"},
		{"2026-01-01T00:00:00Z,2026-01-01 00:00:00,10", "anchor"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,fast", "speed"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,0", "above 0"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,-3", "above 0"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,NaN", "above 0"},
		{"2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,1e7", "at most"},
	}
	for _, c := range cases {
		_, err := ParseScaledClock(c.value)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ParseScaledClock(%q) = %v, want an error about %q", c.value, err, c.wantErr)
		}
	}
}

// TestScaledClockDrivesTheSimulator checks that sessions complete as the
// scaled clock moves, with no one advancing it by hand.
func TestScaledClockDrivesTheSimulator(t *testing.T) {
	clock, err := NewScaledClock(testStart, time.Now(), 36000)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(Config{Seed: 3, Username: testUser, Password: testPassword, Clock: clock, Topology: TestTopology()})
	if err != nil {
		t.Fatal(err)
	}
	before := len(sim.TaskSessions(clock.Now()))
	time.Sleep(100 * time.Millisecond) // an hour of simulated time: every hourly job runs once more
	after := len(sim.TaskSessions(clock.Now()))
	if after <= before {
		t.Errorf("task sessions: %d, then %d a simulated hour later; want more", before, after)
	}
}
