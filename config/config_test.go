package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadGoodFile(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(filepath.Join("testdata", "good.yml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// A relative config path gives relative resolved paths, still correct
	// from the same working directory.
	want := map[string]AuthModule{
		"em_east": {
			Username:     "restuser@corp.local",
			PasswordFile: filepath.Join("testdata", "secrets", "east.password"),
			TLS: TLSConfig{
				CAFile:     filepath.Join("testdata", "east-ca.pem"),
				ServerName: "em-east.corp.local",
			},
		},
		"em_west": {
			Username:     `CORP\svc-veeam`,
			PasswordFile: "/etc/veeam_em_exporter/west.password",
			Collectors:   []string{"backup"},
		},
	}
	if !reflect.DeepEqual(cfg.AuthModules, want) {
		t.Errorf("auth modules = %+v\nwant %+v", cfg.AuthModules, want)
	}

	abs, err := Load(filepath.Join(dir, "good.yml"))
	if err != nil {
		t.Fatalf("Load by absolute path: %v", err)
	}
	if got, want := abs.AuthModules["em_east"].PasswordFile, filepath.Join(dir, "secrets", "east.password"); got != want {
		t.Errorf("password_file resolved to %s, want %s", got, want)
	}
}

// Paths are resolved against the file's directory, not the working
// directory, so the same file works wherever the exporter starts.
func TestRelativePathsFollowTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	pem, err := os.ReadFile(filepath.Join("testdata", "east-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "ca.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, `
auth_modules:
  m:
    username: u
    password_file: ../shared/m.password
    tls:
      ca_file: tls/ca.pem
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	module := cfg.AuthModules["m"]
	if want := filepath.Join(filepath.Dir(dir), "shared", "m.password"); module.PasswordFile != want {
		t.Errorf("password_file = %s, want %s", module.PasswordFile, want)
	}
	if want := filepath.Join(dir, "tls", "ca.pem"); module.TLS.CAFile != want {
		t.Errorf("ca_file = %s, want %s", module.TLS.CAFile, want)
	}
}

func TestLoadErrors(t *testing.T) {
	goodCA, err := filepath.Abs(filepath.Join("testdata", "east-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	notCA, err := filepath.Abs(filepath.Join("testdata", "not-a-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	missingCA := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		name    string
		yaml    string
		wantErr []string // every part must appear in the error
	}{
		{
			name:    "empty file",
			yaml:    "\n  \n",
			wantErr: []string{"empty", "auth_modules"},
		},
		{
			name:    "no modules",
			yaml:    "auth_modules: {}\n",
			wantErr: []string{"no auth_modules defined"},
		},
		{
			name:    "comments only",
			yaml:    "# nothing yet\n",
			wantErr: []string{"no auth_modules defined"},
		},
		{
			name:    "bad YAML",
			yaml:    "auth_modules:\n  m: [unclosed\n",
			wantErr: []string{"decode YAML", "line"},
		},
		{
			name:    "unknown key at top level",
			yaml:    "auth_modules:\n  m:\n    username: u\n    password_file: p\nmodules: {}\n",
			wantErr: []string{"line 5", "field modules not found"},
		},
		{
			name:    "unknown collector",
			yaml:    "auth_modules:\n  m:\n    username: u\n    password_file: p\n    collectors: [replica, tape]\n",
			wantErr: []string{`auth module "m"`, "collectors", `unknown collector "tape"`, "replica, backup"},
		},
		{
			name:    "collector listed twice",
			yaml:    "auth_modules:\n  m:\n    username: u\n    password_file: p\n    collectors: [backup, backup]\n",
			wantErr: []string{`"backup" listed twice`},
		},
		{
			name:    "unknown key in a module",
			yaml:    "auth_modules:\n  m:\n    username: u\n    password_file: p\n    user_name: u\n",
			wantErr: []string{"line 5", "field user_name not found"},
		},
		{
			name:    "unknown key in tls",
			yaml:    "auth_modules:\n  m:\n    username: u\n    password_file: p\n    tls:\n      insecure: true\n",
			wantErr: []string{"line 6", "field insecure not found"},
		},
		{
			name:    "duplicate module",
			yaml:    "auth_modules:\n  m:\n    username: u\n    password_file: p\n  m:\n    username: v\n    password_file: p\n",
			wantErr: []string{`"m" already set`},
		},
		{
			name:    "missing username",
			yaml:    "auth_modules:\n  em_east:\n    password_file: p\n",
			wantErr: []string{`auth module "em_east"`, "username: required"},
		},
		{
			name:    "username with a colon",
			yaml:    "auth_modules:\n  em_east:\n    username: 'a:b'\n    password_file: p\n",
			wantErr: []string{`auth module "em_east"`, "username: must not contain ':'"},
		},
		{
			name:    "missing password_file",
			yaml:    "auth_modules:\n  em_east:\n    username: u\n",
			wantErr: []string{`auth module "em_east"`, "password_file: required"},
		},
		{
			name:    "plain password",
			yaml:    "auth_modules:\n  em_east:\n    username: u\n    password: hunter2\n",
			wantErr: []string{`auth module "em_east"`, "password: not accepted", "never keeps a password", "password_file"},
		},
		{
			name:    "empty module name",
			yaml:    "auth_modules:\n  '':\n    username: u\n    password_file: p\n",
			wantErr: []string{"module name is empty"},
		},
		{
			name:    "unreadable ca_file",
			yaml:    "auth_modules:\n  em_east:\n    username: u\n    password_file: p\n    tls:\n      ca_file: " + missingCA + "\n",
			wantErr: []string{`auth module "em_east"`, "tls.ca_file: read", "missing.pem"},
		},
		{
			name:    "ca_file without a certificate",
			yaml:    "auth_modules:\n  em_east:\n    username: u\n    password_file: p\n    tls:\n      ca_file: " + notCA + "\n",
			wantErr: []string{`auth module "em_east"`, "tls.ca_file", "holds no PEM-encoded certificate"},
		},
		{
			name:    "first error in name order",
			yaml:    "auth_modules:\n  b:\n    username: u\n  a:\n    password_file: p\n    tls:\n      ca_file: " + goodCA + "\n",
			wantErr: []string{`auth module "a"`, "username: required"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), tc.yaml)
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want an error", cfg)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, part := range tc.wantErr {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yml"))
	if err == nil || !strings.Contains(err.Error(), "read config file") {
		t.Errorf("err = %v, want a read error", err)
	}
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "east.password")
	if err := os.WriteFile(passwordFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	module := AuthModule{
		Username:     "restuser@corp.local",
		PasswordFile: passwordFile,
		TLS:          TLSConfig{CAFile: "/ca.pem", InsecureSkipVerify: true, ServerName: "em-east.corp.local"},
	}
	cfg := module.ClientConfig("https://10.0.0.5:9398")
	if cfg.URL != "https://10.0.0.5:9398" || cfg.Username != module.Username || cfg.CAFile != "/ca.pem" ||
		!cfg.InsecureSkipVerify || cfg.ServerName != "em-east.corp.local" {
		t.Errorf("client config = %+v, want the module's settings", cfg)
	}
	password, err := cfg.Password()
	if err != nil || password != "s3cret" {
		t.Errorf("password source = %q, %v; want the password file's content", password, err)
	}
}

func TestDeployExampleDecodes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "deploy", "veeam_em_exporter.yml"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := decode(data)
	if err != nil {
		t.Fatalf("decode the example: %v", err)
	}
	if len(file.AuthModules) < 2 {
		t.Errorf("the example defines %d auth modules, want several", len(file.AuthModules))
	}
}

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
