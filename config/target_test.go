package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeTarget(t *testing.T) {
	cases := []struct {
		raw, want, wantErr string
	}{
		{raw: "https://em.corp.local:9398", want: "https://em.corp.local:9398"},
		{raw: " HTTPS://EM.Corp.Local:9398/ ", want: "https://em.corp.local:9398"},
		{raw: "https://em.corp.local:9398/api", want: "https://em.corp.local:9398"},
		{raw: "https://em.corp.local:9398/API/", want: "https://em.corp.local:9398"},
		{raw: "http://10.0.0.5/veeam/api", want: "http://10.0.0.5/veeam"},
		{raw: "https://[::1]:9398", want: "https://[::1]:9398"},
		{raw: "em.corp.local:9398", wantErr: "http:// or https://"},
		{raw: "ftp://em.corp.local", wantErr: "http:// or https://"},
		{raw: "https://", wantErr: "has no host"},
		{raw: "https:///api", wantErr: "has no host"},
		{raw: "https://user:hunter2@em.corp.local", wantErr: "must not carry credentials"},
		{raw: "https://em.corp.local?x=1", wantErr: "query or a fragment"},
		{raw: "https://em.corp.local#top", wantErr: "query or a fragment"},
		{raw: "https://em.corp.local:port", wantErr: "not a URL"},
	}
	for _, tc := range cases {
		got, err := NormalizeTarget(tc.raw)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("NormalizeTarget(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("NormalizeTarget(%q) = %q, %v; want an error with %q", tc.raw, got, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("NormalizeTarget(%q) error %q reveals the password", tc.raw, err)
		}
	}
}

func TestTargetsList(t *testing.T) {
	path := writeConfig(t, t.TempDir(), `
auth_modules:
  listed:
    username: u
    password_file: p
    targets:
      - https://EM-East.corp.local:9398/api
      - https://em-east.corp.local:9398/
      - http://10.0.0.5:9399
  open:
    username: u
    password_file: p
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	listed, open := cfg.AuthModules["listed"], cfg.AuthModules["open"]
	if want := []string{"https://em-east.corp.local:9398", "http://10.0.0.5:9399"}; !reflect.DeepEqual(listed.Targets, want) {
		t.Errorf("targets = %q, want %q", listed.Targets, want)
	}
	for target, want := range map[string]bool{
		"https://em-east.corp.local:9398": true,
		"http://10.0.0.5:9399":            true,
		"https://em-west.corp.local:9398": false,
		"http://em-east.corp.local:9398":  false,
	} {
		if got := listed.AllowsTarget(target); got != want {
			t.Errorf("listed module allows %s: %v, want %v", target, got, want)
		}
		if !open.AllowsTarget(target) {
			t.Errorf("module without a targets list refuses %s", target)
		}
	}
	warnings := cfg.Warnings()
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"open"`) || !strings.Contains(warnings[0], "any target") {
		t.Errorf("warnings = %q, want one about module open accepting any target", warnings)
	}
}

func TestTargetsListErrors(t *testing.T) {
	for name, tc := range map[string]struct{ targets, wantErr string }{
		"empty list":   {"[]", "targets: empty"},
		"not a URL":    {"[em.corp.local]", `targets: "em.corp.local" must be an http:// or https:// URL`},
		"no host":      {"['https://']", "has no host"},
		"with a query": {"['https://em?a=b']", "query"},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), "auth_modules:\n  m:\n    username: u\n    password_file: p\n    targets: "+tc.targets+"\n")
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `auth module "m"`) {
				t.Errorf("Load: err = %v, want one naming module m and %q", err, tc.wantErr)
			}
		})
	}
}

func TestFingerprintFollowsEverySetting(t *testing.T) {
	base := AuthModule{Username: "u", PasswordFile: "/p", TLS: TLSConfig{CAFile: "/ca.pem"}}
	same := AuthModule{Username: "u", PasswordFile: "/p", TLS: TLSConfig{CAFile: "/ca.pem"}}
	if base.Fingerprint() != same.Fingerprint() {
		t.Fatal("equal modules have different fingerprints")
	}
	changes := map[string]func(*AuthModule){
		"username":             func(m *AuthModule) { m.Username = "v" },
		"password file":        func(m *AuthModule) { m.PasswordFile = "/q" },
		"ca file":              func(m *AuthModule) { m.TLS.CAFile = "/other.pem" },
		"insecure skip verify": func(m *AuthModule) { m.TLS.InsecureSkipVerify = true },
		"server name":          func(m *AuthModule) { m.TLS.ServerName = "em" },
		"targets":              func(m *AuthModule) { m.Targets = []string{"https://em"} },
	}
	for name, change := range changes {
		changed := base
		change(&changed)
		if changed.Fingerprint() == base.Fingerprint() {
			t.Errorf("changing the %s keeps the fingerprint", name)
		}
	}
}

// The example file shows a targets list; it must be one the loader accepts.
func TestDeployExampleTargets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "deploy", "veeam_em_exporter.yml"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := decode(data)
	if err != nil {
		t.Fatalf("decode the example: %v", err)
	}
	listed := 0
	for name, module := range file.AuthModules {
		targets, err := resolveTargets(module.Targets)
		if err != nil {
			t.Errorf("module %s: targets: %v", name, err)
		}
		listed += len(targets)
	}
	if listed == 0 {
		t.Error("the example shows no targets list")
	}
}
