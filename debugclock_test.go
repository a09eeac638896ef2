package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
)

func TestSoakClockFlag(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
		speed   float64 // of the parsed clock; 0 when the flag is absent
	}{
		{name: "absent", args: nil},
		{name: "valid", args: []string{"--debug.clock=2026-01-01T00:00:00Z,2026-11-24T14:00:00Z,4320"}, speed: 4320},
		{name: "missing speed", args: []string{"--debug.clock=2026-01-01T00:00:00Z,2026-11-24T14:00:00Z"}, wantErr: "--debug.clock: parse scaled clock"},
		{name: "bad time", args: []string{"--debug.clock=now,2026-11-24T14:00:00Z,10"}, wantErr: "--debug.clock: parse scaled clock start"},
		{name: "zero speed", args: []string{"--debug.clock=2026-01-01T00:00:00Z,2026-11-24T14:00:00Z,0"}, wantErr: "speed must be above 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := kingpin.New("test", "")
			flag := addSoakClockFlag(app)
			_, err := app.Parse(c.args)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("parse %v: err = %v, want one containing %q", c.args, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			now := flag.now(log.NewLogfmtLogger(&logged))
			if c.speed == 0 {
				if now != nil || logged.Len() != 0 {
					t.Errorf("without the flag: simulated clock %v, log %q; want the wall clock and no log", now != nil, logged.String())
				}
				return
			}
			if !strings.Contains(logged.String(), "SIMULATED CLOCK") {
				t.Errorf("no warning that the clock is simulated: %q", logged.String())
			}
			if got := flag.clock.Speed(); got != c.speed {
				t.Errorf("speed = %v, want %v", got, c.speed)
			}
			first := now()
			time.Sleep(5 * time.Millisecond)
			if moved := now().Sub(first); moved < 20*time.Second {
				t.Errorf("5 ms of wall time moved the clock by %v, want at least 20 s at speed 4320", moved)
			}
		})
	}
}

func TestSoakClockFlagIsHiddenAndFatal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	if strings.Contains(string(help), "debug.clock") {
		t.Error("--help shows the hidden --debug.clock flag")
	}
	out, err := exec.Command(bin, "--debug.clock=2026-01-01T00:00:00Z,tomorrow,10").CombinedOutput()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 {
		t.Fatalf("a bad --debug.clock: err = %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "--debug.clock: parse scaled clock anchor") {
		t.Errorf("the error does not name the flag and the bad part:\n%s", out)
	}
}
