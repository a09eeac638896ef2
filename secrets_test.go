package main

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
	"github.com/veeam-em-exporter/veeam_em_exporter/veeam/emsim"
)

// secPassword has characters that every encoding changes ('+', '/', ' ',
// '&', '=', '%', non-ASCII), so that each encoded form differs from the raw
// one and from the others.
const secPassword = "Sec+ret/pa ss&w=rd%ü-7Qz"

// secForms are the ways the password could leak: raw, in the Basic
// authorization header of the logon, base64 on its own, and URL-encoded.
func secForms() map[string]string {
	return map[string]string{
		"raw":                  secPassword,
		"basic auth header":    base64.StdEncoding.EncodeToString([]byte(e2eUser + ":" + secPassword)),
		"base64":               base64.StdEncoding.EncodeToString([]byte(secPassword)),
		"query escaped":        url.QueryEscape(secPassword),
		"path escaped":         url.PathEscape(secPassword),
		"url userinfo escaped": url.UserPassword(e2eUser, secPassword).String(),
	}
}

// secAssertNoPassword fails t if any form of the password is in text.
func secAssertNoPassword(t *testing.T, where, text string) {
	t.Helper()
	for form, leaked := range secForms() {
		if strings.Contains(text, leaked) {
			t.Errorf("the password (%s) appears in %s", form, where)
		}
	}
}

// TestSecretFormsAreDistinct keeps the leak checks honest: every encoded
// form must be a string of its own, or a check would only repeat another.
func TestSecretFormsAreDistinct(t *testing.T) {
	formOf := map[string]string{}
	for form, text := range secForms() {
		if other, dup := formOf[text]; dup {
			t.Errorf("forms %q and %q are the same string %q", form, other, text)
		}
		formOf[text] = form
		if form != "raw" && strings.Contains(text, secPassword) {
			t.Errorf("form %q contains the raw password: %q", form, text)
		}
	}
}

// secPasswordSource is one way of handing the password to the exporter.
type secPasswordSource struct {
	name  string
	apply func(t *testing.T) []string // sets the password up and returns the flags
}

var secPasswordSources = []secPasswordSource{
	{"password file", func(t *testing.T) []string {
		t.Setenv(passwordEnv, "")
		file := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(file, []byte(secPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--veeam.password-file=" + file}
	}},
	{"environment variable", func(t *testing.T) []string {
		t.Setenv(passwordEnv, secPassword)
		return nil
	}},
}

// TestSecretsNeverLeak runs the real binary at debug level with a distinctive
// password, from a file and from the environment, while EM accepts it,
// rejects it, fails, cannot be reached or cannot be trusted, and looks for
// the password everywhere the exporter writes.
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	scenarios := []struct {
		name string
		// simPassword is what the simulator accepts; "" means secPassword.
		simPassword string
		fault       *emsim.Fault
		unreachable bool
		trustCA     bool
		wantUp      float64
		// wantLog is in the log when the scenario happened as intended.
		wantLog string
	}{
		{name: "success", trustCA: true, wantUp: 1, wantLog: "Logged on to Enterprise Manager"},
		{name: "wrong password", simPassword: "the-password-EM-expects", trustCA: true, wantLog: "401"},
		{name: "logon 500", fault: &emsim.Fault{Path: "logon", Status: http.StatusInternalServerError, Count: -1}, trustCA: true, wantLog: "500"},
		{name: "query 500", fault: &emsim.Fault{Path: "query", Status: http.StatusInternalServerError, Count: -1}, trustCA: true, wantLog: "500"},
		{name: "EM unreachable", unreachable: true, trustCA: true, wantLog: "connection refused"},
		{name: "TLS unknown CA", wantLog: "unknown authority"},
	}
	for _, sc := range scenarios {
		for _, source := range secPasswordSources {
			t.Run(sc.name+"/"+source.name, func(t *testing.T) {
				simPassword := sc.simPassword
				if simPassword == "" {
					simPassword = secPassword
				}
				sim, err := emsim.Start(emsim.Config{
					Seed:     11,
					Username: e2eUser,
					Password: simPassword,
					Clock:    emsim.NewManualClock(time.Now().UTC()),
					Topology: emsim.TestTopology(),
				}, true)
				if err != nil {
					t.Fatal(err)
				}
				defer sim.Close()
				if sc.fault != nil {
					sim.InjectFault(*sc.fault)
				}

				args := append(source.apply(t), "--veeam.username="+e2eUser, "--veeam.timeout=5s")
				if sc.unreachable {
					args = append(args, "--veeam.url=https://"+freeAddr(t))
				} else {
					args = append(args, "--veeam.url="+sim.URL)
				}
				if sc.trustCA {
					caFile := filepath.Join(t.TempDir(), "ca.pem")
					if err := os.WriteFile(caFile, sim.CertPEM, 0o600); err != nil {
						t.Fatal(err)
					}
					args = append(args, "--veeam.ca-file="+caFile)
				}

				exp := startExporter(t, bin, args...)
				for range 2 {
					body, families := exp.scrape()
					secAssertNoPassword(t, "/metrics", body)
					if got := gaugeValue(families, "veeam_em_up"); got != sc.wantUp {
						t.Errorf("veeam_em_up = %v, want %v: the scenario did not happen", got, sc.wantUp)
					}
				}
				for _, path := range []string{"/", "/-/ready", "/-/healthy"} {
					_, body := exp.get(path)
					secAssertNoPassword(t, path, body)
				}
				exp.stop(syscall.SIGTERM)
				logs := exp.stderr.String()
				if !strings.Contains(logs, sc.wantLog) {
					t.Errorf("the log does not mention %q: the scenario did not happen\n%s", sc.wantLog, logs)
				}
				if !strings.Contains(logs, "level=debug") {
					t.Errorf("no debug line in the log: the test does not look at debug output\n%s", logs)
				}
				secAssertNoPassword(t, "the log", logs)
			})
		}
	}
}

// TestSecretsNotInHelpOrVersion looks at what the binary prints before it
// does anything, with the password both in the environment and in a file.
func TestSecretsNotInHelpOrVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(secPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(passwordEnv, secPassword)
	for _, args := range [][]string{
		{"--help"},
		{"--version"},
		{"--veeam.password-file=" + file, "--help"},
		{"--veeam.password-file=" + file, "--version"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
		if len(out) == 0 {
			t.Errorf("%v printed nothing", args)
		}
		secAssertNoPassword(t, strings.Join(args, " ")+" output", string(out))
	}
}

// TestSecretsNotInConfigErrors starts the binary with configurations it must
// refuse, some of which carry the password where it does not belong, and
// checks the refusal does not repeat it.
func TestSecretsNotInConfigErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	t.Setenv(passwordEnv, secPassword)
	for name, args := range map[string][]string{
		"password in the URL": {
			"--veeam.url=https://" + url.UserPassword(e2eUser, secPassword).String() + "@127.0.0.1:9398",
			"--veeam.username=" + e2eUser,
		},
		"password in the URL, unescaped": {
			"--veeam.url=https://" + e2eUser + ":" + secPassword + "@127.0.0.1:9398",
			"--veeam.username=" + e2eUser,
		},
		"password in the username": {
			"--veeam.url=https://127.0.0.1:9398",
			"--veeam.username=" + e2eUser + ":" + secPassword,
		},
		"no username": {"--veeam.url=https://127.0.0.1:9398"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--log.level=debug", "--web.listen-address=" + freeAddr(t)}, args...)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\n%s", err, out)
			}
			if !strings.Contains(string(out), "level=error") {
				t.Errorf("the refusal is not logged as an error:\n%s", out)
			}
			secAssertNoPassword(t, "the log", string(out))
		})
	}
}

// TestSecretsNotInClientConfigErrors checks the error strings main gets back
// from veeam.New for a configuration it refuses, with the password sources
// main builds.
func TestSecretsNotInClientConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(secPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(passwordEnv, secPassword)
	sources := map[string]func() (string, error){
		"file":        veeam.PasswordFile(file),
		"environment": veeam.PasswordEnv(passwordEnv),
	}
	configs := map[string]veeam.Config{
		"credentials in the URL":   {URL: "https://" + url.UserPassword(e2eUser, secPassword).String() + "@em.example.com:9398", Username: e2eUser},
		"raw password in the URL":  {URL: "https://" + e2eUser + ":" + secPassword + "@em.example.com:9398", Username: e2eUser},
		"password as a URL query":  {URL: "https://em.example.com:9398/api?password=" + url.QueryEscape(secPassword), Username: e2eUser},
		"password in the username": {URL: "https://em.example.com:9398", Username: e2eUser + ":" + secPassword},
		"unreadable CA file":       {URL: "https://em.example.com:9398", Username: e2eUser, CAFile: filepath.Join(t.TempDir(), "missing.pem")},
		"negative page size":       {URL: "https://em.example.com:9398", Username: e2eUser, PageSize: -1},
	}
	for sourceName, source := range sources {
		for name, cfg := range configs {
			cfg.Password = source
			_, err := veeam.New(cfg)
			if err == nil {
				t.Errorf("%s, password from %s: veeam.New accepted the configuration", name, sourceName)
				continue
			}
			secAssertNoPassword(t, name+" error (password from "+sourceName+")", err.Error())
		}
	}
}
