package main

import (
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// soakClockFlag is the hidden --debug.clock flag. A soak run gives the
// exporter and the simulator the same fast clock, so that weeks of replica
// sessions pass in minutes and both agree on what is due when. It is a
// kingpin.Value, so a bad value fails the parse with exit status 1 before
// anything starts.
type soakClockFlag struct {
	clock *emsim.ScaledClock
}

// addSoakClockFlag registers --debug.clock=START,ANCHOR,SPEED on app,
// hidden from --help: it is a test instrument, never for production.
func addSoakClockFlag(app *kingpin.Application) *soakClockFlag {
	f := &soakClockFlag{}
	app.Flag("debug.clock", "Simulated clock for soak tests: START,ANCHOR,SPEED (RFC 3339 times, speed a positive number); the clock reads START at wall time ANCHOR and runs SPEED times as fast.").
		Hidden().PlaceHolder("START,ANCHOR,SPEED").SetValue(f)
	return f
}

// Set implements kingpin.Value.
func (f *soakClockFlag) Set(value string) error {
	clock, err := emsim.ParseScaledClock(value)
	if err != nil {
		return fmt.Errorf("--debug.clock: %w", err)
	}
	f.clock = clock
	return nil
}

// String implements kingpin.Value.
func (f *soakClockFlag) String() string {
	if f.clock == nil {
		return ""
	}
	return f.clock.String()
}

// now is the exporter's clock (the collector's windows, the client's logon
// back-off): nil, meaning the wall clock, unless the flag was given. A
// simulated clock makes every timestamp the exporter reports wrong for a real
// EM, so it is announced loudly.
func (f *soakClockFlag) now(logger log.Logger) func() time.Time {
	if f.clock == nil {
		return nil
	}
	level.Warn(logger).Log("msg", "SIMULATED CLOCK: --debug.clock is set, session windows and timestamps follow a fast clock, not the wall clock; for soak tests only",
		"clock", f.clock.String(), "simulated_now", f.clock.Now().Format(time.RFC3339))
	return f.clock.Now
}
