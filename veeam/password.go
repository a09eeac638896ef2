package veeam

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// PasswordFile returns a password source that reads path at every call, so a
// rotated password is picked up at the next logon without a restart. Only the
// trailing line break is removed: other white space may be part of the password.
func PasswordFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("read password file %s: %w", path, errEmptyPassword)
		}
		return p, nil
	}
}

// PasswordEnv returns a password source that reads the environment variable
// name at every call.
func PasswordEnv(name string) func() (string, error) {
	return func() (string, error) {
		p := os.Getenv(name)
		if p == "" {
			return "", fmt.Errorf("environment variable %s: %w", name, errEmptyPassword)
		}
		return p, nil
	}
}

var errEmptyPassword = errors.New("password is empty")
