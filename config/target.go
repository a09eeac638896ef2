package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// NormalizeTarget checks that raw is an http or https URL with a host and
// returns it in the one form used to compare targets: scheme and host in
// lower case, without a trailing "/" or "/api" (the client adds "/api"
// itself), so that spellings of the same EM name the same target.
func NormalizeTarget(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// The inner error only: the URL itself could carry a password.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("not a URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", errors.New("must be an http:// or https:// URL")
	case u.Host == "":
		return "", errors.New("has no host")
	case u.User != nil:
		return "", errors.New("must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("must not have a query or a fragment")
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if len(path) >= 4 && strings.EqualFold(path[len(path)-4:], "/api") {
		path = path[:len(path)-4]
	}
	return scheme + "://" + strings.ToLower(u.Host) + path, nil
}

// AllowsTarget reports whether the module may log on to target, a URL as
// NormalizeTarget returns it. A module without a targets list allows any.
func (m AuthModule) AllowsTarget(target string) bool {
	return len(m.Targets) == 0 || slices.Contains(m.Targets, target)
}

// Fingerprint identifies the module's settings: two modules with the same
// fingerprint log on in the same way, so a reload that changes a module
// changes its fingerprint. It holds no secret; the password file is read
// at every logon anyway.
func (m AuthModule) Fingerprint() string {
	// Marshalling a struct of strings, a bool and a slice cannot fail.
	data, _ := json.Marshal(m)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// Warnings name the risky choices of a valid configuration, for the
// caller to log at every load.
func (c *Config) Warnings() []string {
	var warnings []string
	for _, name := range slices.Sorted(maps.Keys(c.AuthModules)) {
		if len(c.AuthModules[name].Targets) == 0 {
			warnings = append(warnings, fmt.Sprintf("auth module %q has no targets list: it sends its password to any target a /probe request names", name))
		}
	}
	return warnings
}

// resolveTargets normalizes a module's targets list, refusing entries that
// are not EM base URLs.
func resolveTargets(targets []string) ([]string, error) {
	if targets != nil && len(targets) == 0 {
		return nil, errors.New("empty: omit the key to allow any target, or list the EM base URLs")
	}
	resolved := make([]string, 0, len(targets))
	for _, raw := range targets {
		target, err := NormalizeTarget(raw)
		if err != nil {
			return nil, fmt.Errorf("%q %w", raw, err)
		}
		if !slices.Contains(resolved, target) {
			resolved = append(resolved, target)
		}
	}
	if len(resolved) == 0 {
		return nil, nil
	}
	return resolved, nil
}
