// Package config loads the exporter's multi-target configuration file: the
// auth modules that /probe requests name to reach an Enterprise Manager.
package config

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v2"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// Config is a loaded and validated configuration file.
type Config struct {
	AuthModules map[string]AuthModule
}

// AuthModule says how to log on to one or more EM servers. It holds no
// password, only the file the password is read from at every logon.
type AuthModule struct {
	Username     string
	PasswordFile string // absolute, or relative to the working directory once resolved
	TLS          TLSConfig
	// Targets are the EM base URLs, normalized by NormalizeTarget, that the
	// module may log on to; empty allows any target.
	Targets []string
	// Collectors are the collectors, of Collectors(), that run for the
	// module's targets; empty leaves the choice to the exporter's
	// --collector.* flags.
	Collectors []string
}

// Collectors are the names an auth module's collectors list accepts: the
// exporter's collectors.
func Collectors() []string {
	return []string{"replica", "backup", "repository", "job", "backup_server", "summary", "replica_point", "cdp"}
}

// TLSConfig says which certificate an EM server must present.
type TLSConfig struct {
	CAFile             string
	InsecureSkipVerify bool
	ServerName         string
}

// ClientConfig gives the veeam.Config pieces this module decides for the EM
// at url; the caller adds limits, logger and clock.
func (m AuthModule) ClientConfig(url string) veeam.Config {
	return veeam.Config{
		URL:                url,
		Username:           m.Username,
		Password:           veeam.PasswordFile(m.PasswordFile),
		CAFile:             m.TLS.CAFile,
		InsecureSkipVerify: m.TLS.InsecureSkipVerify,
		ServerName:         m.TLS.ServerName,
	}
}

// The file's own shape, decoded strictly. It differs from the public types
// only by the password key, accepted by the decoder so that its presence can
// be refused with an explanation rather than as an unknown field.
type fileConfig struct {
	AuthModules map[string]fileAuthModule `yaml:"auth_modules"`
}

type fileAuthModule struct {
	Username     string        `yaml:"username"`
	Password     *string       `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	TLS          fileTLSConfig `yaml:"tls"`
	Targets      []string      `yaml:"targets"`
	Collectors   []string      `yaml:"collectors"`
}

type fileTLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	ServerName         string `yaml:"server_name"`
}

// Load reads, decodes and validates the configuration file at path.
// Relative file names in it are resolved against the file's directory, so
// the configuration means the same whatever the exporter's working directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	cfg, err := parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

func parse(data []byte, dir string) (*Config, error) {
	file, err := decode(data)
	if err != nil {
		return nil, err
	}
	cfg := &Config{AuthModules: make(map[string]AuthModule, len(file.AuthModules))}
	// Sorted, so that a file with several mistakes always reports the same one.
	for _, name := range slices.Sorted(maps.Keys(file.AuthModules)) {
		module, err := file.AuthModules[name].resolve(name, dir)
		if err != nil {
			return nil, err
		}
		cfg.AuthModules[name] = module
	}
	return cfg, nil
}

func decode(data []byte) (*fileConfig, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty: it must define auth_modules")
	}
	var file fileConfig
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	if len(file.AuthModules) == 0 {
		return nil, errors.New("no auth_modules defined: at least one is required")
	}
	return &file, nil
}

func (m fileAuthModule) resolve(name, dir string) (AuthModule, error) {
	fail := func(field, format string, args ...any) (AuthModule, error) {
		return AuthModule{}, fmt.Errorf("auth module %q: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(name) == "":
		return AuthModule{}, errors.New("auth_modules: a module name is empty")
	case m.Password != nil:
		return fail("password", "not accepted: the exporter never keeps a password in a flag or a configuration file; put it in a file named by password_file")
	case m.Username == "":
		return fail("username", "required")
	case strings.Contains(m.Username, ":"):
		return fail("username", "must not contain ':', which HTTP Basic authentication cannot carry")
	case m.PasswordFile == "":
		return fail("password_file", "required")
	}
	module := AuthModule{
		Username:     m.Username,
		PasswordFile: resolvePath(dir, m.PasswordFile),
		TLS: TLSConfig{
			InsecureSkipVerify: m.TLS.InsecureSkipVerify,
			ServerName:         m.TLS.ServerName,
		},
	}
	targets, err := resolveTargets(m.Targets)
	if err != nil {
		return fail("targets", "%v", err)
	}
	module.Targets = targets
	for i, c := range m.Collectors {
		switch {
		case !slices.Contains(Collectors(), c):
			return fail("collectors", "unknown collector %q (known: %s)", c, strings.Join(Collectors(), ", "))
		case slices.Contains(m.Collectors[:i], c):
			return fail("collectors", "%q listed twice", c)
		}
	}
	module.Collectors = m.Collectors
	if m.TLS.CAFile != "" {
		module.TLS.CAFile = resolvePath(dir, m.TLS.CAFile)
		if err := checkCAFile(module.TLS.CAFile); err != nil {
			return fail("tls.ca_file", "%v", err)
		}
	}
	return module, nil
}

func resolvePath(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// checkCAFile reads the file now, although the client reads it again, so
// that --config.check and a reload catch a wrong path before a probe does.
func checkCAFile(path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM-encoded certificate", path)
	}
	return nil
}
