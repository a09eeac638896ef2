package main

import (
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/common/version"
)

func TestFillVersion(t *testing.T) {
	vcs := func(revision, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: revision}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name                      string
		ldVersion, ldRevision     string
		main                      string
		settings                  []debug.BuildSetting
		wantVersion, wantRevision string
	}{
		{name: "go build in a clean checkout", main: "v0.0.0-20261202122235-0bba25f1b2c3", settings: vcs("0bba25f1b2c3d4e5", "false"),
			wantVersion: "v0.0.0-20261202122235-0bba25f1b2c3", wantRevision: "0bba25f1b2c3d4e5"},
		{name: "go build with changes", main: "v0.3.0-0.20261202122235-0bba25f1b2c3+dirty", settings: vcs("0bba25f1b2c3d4e5", "true"),
			wantVersion: "v0.3.0-0.20261202122235-0bba25f1b2c3+dirty", wantRevision: "0bba25f1b2c3d4e5-modified"},
		{name: "go install of a tag", main: "v0.3.0", wantVersion: "v0.3.0"},
		{name: "go install of a commit", main: "v0.3.1-rc.1.0.20261202122235-0bba25f1b2c3",
			wantVersion: "v0.3.1-rc.1.0.20261202122235-0bba25f1b2c3", wantRevision: "0bba25f1b2c3"},
		{name: "no VCS stamp", main: "(devel)"},
		{name: "a tag that looks like a hash", main: "v1.0.0-abcdefabcdef", wantVersion: "v1.0.0-abcdefabcdef"},
		{name: "ldflags win", ldVersion: "1.2.3", ldRevision: "cafe", main: "v0.3.0", settings: vcs("0bba25f1b2c3d4e5", "false"),
			wantVersion: "1.2.3", wantRevision: "cafe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			savedVersion, savedRevision := version.Version, version.Revision
			t.Cleanup(func() { version.Version, version.Revision = savedVersion, savedRevision })
			version.Version, version.Revision = tc.ldVersion, tc.ldRevision
			fillVersion(&debug.BuildInfo{Main: debug.Module{Version: tc.main}, Settings: tc.settings})
			if version.Version != tc.wantVersion || version.Revision != tc.wantRevision {
				t.Errorf("version %q, revision %q; want %q, %q", version.Version, version.Revision, tc.wantVersion, tc.wantRevision)
			}
		})
	}
}

// TestVersionFromGoBuild checks the real binary, built by go build without
// -ldflags in this checkout, reports the commit it was built from.
func TestVersionFromGoBuild(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a Git checkout (%v): go build records no revision", err)
	}
	out, err := exec.Command(buildBinary(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	revision := strings.TrimSpace(string(head))
	if !strings.Contains(first, "revision: "+revision) {
		t.Errorf("--version says %q, want the revision %s", first, revision)
	}
	if strings.Contains(first, "version  (") || !strings.Contains(first, revision[:12]) {
		t.Errorf("--version says %q, want a pseudo-version naming %s", first, revision[:12])
	}
}
