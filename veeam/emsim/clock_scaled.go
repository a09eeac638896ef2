package emsim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxClockSpeed keeps a ScaledClock's time representable for days of wall
// time: at this speed a time.Duration overflows after about 2.5 hours, far
// beyond any soak run.
const maxClockSpeed = 1e6

// ScaledClock runs Speed times as fast as the wall clock: at wall time
// Anchor it reads Start. It holds no state, so two processes given the same
// three values read the same time, which lets an exporter and a simulator
// in another process share a fast clock.
type ScaledClock struct {
	start  time.Time
	anchor time.Time
	speed  float64
}

// NewScaledClock returns a clock that reads start at wall time anchor and
// then advances speed seconds per wall second.
func NewScaledClock(start, anchor time.Time, speed float64) (*ScaledClock, error) {
	if !(speed > 0 && speed <= maxClockSpeed) {
		return nil, fmt.Errorf("new scaled clock: speed must be above 0 and at most %g, got %g", float64(maxClockSpeed), speed)
	}
	if start.IsZero() || anchor.IsZero() {
		return nil, errors.New("new scaled clock: start and anchor must be set")
	}
	return &ScaledClock{start: start.UTC(), anchor: anchor.UTC(), speed: speed}, nil
}

// ParseScaledClock reads the form String writes: START,ANCHOR,SPEED with
// both times in RFC 3339, e.g.
// "2026-01-01T00:00:00Z,2026-11-24T14:30:00Z,4320".
func ParseScaledClock(s string) (*ScaledClock, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("parse scaled clock %q: want START,ANCHOR,SPEED", s)
	}
	start, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[0]))
	if err != nil {
		return nil, fmt.Errorf("parse scaled clock start: %w", err)
	}
	anchor, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[1]))
	if err != nil {
		return nil, fmt.Errorf("parse scaled clock anchor: %w", err)
	}
	speed, err := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
	if err != nil {
		return nil, fmt.Errorf("parse scaled clock speed: %w", err)
	}
	return NewScaledClock(start, anchor, speed)
}

// String gives the clock in the form ParseScaledClock reads.
func (c *ScaledClock) String() string {
	return c.start.Format(time.RFC3339Nano) + "," + c.anchor.Format(time.RFC3339Nano) + "," + strconv.FormatFloat(c.speed, 'g', -1, 64)
}

// Speed is how many simulated seconds pass per wall second.
func (c *ScaledClock) Speed() float64 { return c.speed }

// Now implements Clock.
func (c *ScaledClock) Now() time.Time { return c.At(time.Now()) }

// At is the clock's time at the given wall time.
func (c *ScaledClock) At(wall time.Time) time.Time {
	return c.start.Add(c.Simulated(wall.Sub(c.anchor)))
}

// Simulated is the simulated span that passes in a wall span d.
func (c *ScaledClock) Simulated(d time.Duration) time.Duration {
	scaled := float64(d) * c.speed
	// Beyond what a Duration holds the clock stops rather than wrapping.
	switch {
	case scaled >= math.MaxInt64:
		return math.MaxInt64
	case scaled <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(scaled)
}
