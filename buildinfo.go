package main

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// setVersionFromBuild fills the version and revision that -ldflags did not
// set from what the go command recorded in the binary: the module version
// (a tag, or a pseudo-version for an untagged commit, for go install and
// for go build in a Git checkout) and the VCS revision. Without it, a
// binary built by plain go build or go install reports an empty version in
// --version and veeam_em_exporter_build_info.
func setVersionFromBuild() {
	if info, ok := debug.ReadBuildInfo(); ok {
		fillVersion(info)
	}
}

// fillVersion is setVersionFromBuild with the build information given.
func fillVersion(info *debug.BuildInfo) {
	if version.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		version.Version = info.Main.Version
	}
	if version.Revision == "" {
		version.Revision = revisionOf(info)
	}
}

// revisionOf is the commit the binary was built from: the VCS stamp of go
// build, marked when the tree had changes, else the commit a pseudo-version
// names (go install of an untagged commit records no VCS stamp). Empty when
// neither says.
func revisionOf(info *debug.BuildInfo) string {
	var revision string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" {
		if modified {
			revision += "-modified"
		}
		return revision
	}
	return pseudoVersionRevision(info.Main.Version)
}

// pseudoVersionRevision is the 12-hex-digit commit prefix that ends a
// pseudo-version such as v0.0.0-20261202122235-0bba25f1b2c3 (or one
// with a +dirty or +incompatible suffix), or "" for any other version.
func pseudoVersionRevision(v string) string {
	v, _, _ = strings.Cut(v, "+")
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return ""
	}
	prefix, hash := v[:i], v[i+1:]
	if len(hash) != 12 || strings.Trim(hash, "0123456789abcdef") != "" {
		return ""
	}
	// The part before the hash ends with a 14-digit UTC timestamp.
	j := max(strings.LastIndexByte(prefix, '-'), strings.LastIndexByte(prefix, '.'))
	stamp := prefix[j+1:]
	if len(stamp) != 14 || strings.Trim(stamp, "0123456789") != "" {
		return ""
	}
	return hash
}
